"""FastaiBackend on tiny generated digits: phases, rates, LR finder, cancel, export, weights.

No database needed: the backends are plain code; jobs and workers are tested elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from experiments.datasets.demo import write_digits
from workers.training.base import WeightsUnavailable, phase2_group_rates
from workers.training.reporting import Cancelled, MemoryReporter
from workers.training.spec import JobSpec, SplitData

pytestmark = pytest.mark.slow

import torch
from fastai.callback.core import Callback

from workers.training import fastai_parts as parts
from workers.training.fastai_backend import FastaiBackend

from .tiny import tiny_spec

# Deliberately not alphabetical: probability columns must follow SplitData.classes.
CLASSES = ["2", "0", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SplitData:
    root = tmp_path_factory.mktemp("digits")
    write_digits(root, per_class=12, size=32, classes=3)
    split = SplitData(classes=list(CLASSES))
    for label, name in enumerate(CLASSES):
        files = sorted((root / name).glob("*.png"))
        split.train += [(p, label) for p in files[:8]]  # 24 train: 3 batches of 8
        split.valid += [(p, label) for p in files[8:10]]
        split.test += [(p, label) for p in files[10:]]
    for items in (split.train, split.valid, split.test):
        items.sort()  # sorted by path, like SplitData.from_dataset
    return split


def make_spec(**changes) -> JobSpec:
    return tiny_spec("fastai", **changes)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    reporter = MemoryReporter()
    workdir = tmp_path_factory.mktemp("work")
    model = FastaiBackend().train(make_spec(), data, reporter, workdir)
    return reporter, model


class GroupRates(Callback):
    """Records each layer group's learning rate and what is trainable, batch by batch."""

    def __init__(self):
        self.rates, self.trainable = [], None

    def before_fit(self):
        self.trainable = {name: p.requires_grad for name, p in self.model.named_parameters()}

    def after_batch(self):
        if self.training:
            self.rates.append([h["lr"] for h in self.opt.hypers])


def learner(spec, data, tmp_path):
    dls = parts.build_dataloaders(spec, data, tmp_path)
    return parts.build_learner(spec, dls, tmp_path)


def test_end_to_end_two_phases(trained, data):
    reporter, model = trained
    assert [(e["phase"], e["epoch"]) for e in reporter.epochs] == [(1, 1), (2, 1)]
    assert reporter.phases == [(1, 1, 2), (2, 1, 2)]  # max_batches=2 of the 3 available
    assert reporter.batches == 4  # training batches only; the LR finder's are not counted
    for row in reporter.epochs:
        for key in ("train_loss", "valid_loss", "valid_accuracy", "learning_rate"):
            assert math.isfinite(row[key]), (key, row)
        assert row["images"] == 16 and row["seconds"] > 0
    lr = reporter.lr_finder
    assert lr["phase"] == 1 and len(lr["lrs"]) == len(lr["losses"]) >= 10
    assert lr["lrs"] == sorted(lr["lrs"])  # exponentially growing rates
    assert lr["suggestion"] is None or lr["lrs"][0] <= lr["suggestion"] <= lr["lrs"][-1]
    shown = "-" if lr["suggestion"] is None else f"{lr['suggestion']:.3g}"
    assert f"LR finder: {len(lr['lrs'])} points, suggested lr (valley) {shown}" in (
        reporter.messages
    )
    assert sum("phase 2 epoch 1/1" in m for m in reporter.messages) == 1

    probs = np.array(model.test_probabilities)
    assert probs.shape == (len(data.test), 3)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert model.model_path.is_file() and model.model_path.parent.name.startswith("work")


def test_reloaded_model_predicts_the_same(trained, data):
    from fastai.learner import load_learner

    _, model = trained
    images = [path for path, _ in data.test]
    again = FastaiBackend().load_and_predict(model.model_path, images, 32)
    assert np.allclose(again, model.test_probabilities, atol=1e-6)
    assert list(load_learner(model.model_path).dls.vocab) == CLASSES


def test_labels_follow_classes_and_max_batches_caps(data, tmp_path):
    spec = make_spec(max_batches=2, augmentation=False)
    dls = parts.build_dataloaders(spec, data, tmp_path)
    assert list(dls.vocab) == CLASSES
    assert len(dls.train) == 2 and len(dls.train_ds) == 16
    big_valid = replace(data, valid=data.train)  # 24 valid images, cap is 2*8
    capped = parts.build_dataloaders(spec, big_valid, tmp_path)
    # validation runs without gradients in batches twice the training batch
    assert len(capped.valid_ds) == 16 and len(capped.valid) == 1 and capped.valid.bs == 16
    by_path = {str(p): y for p, y in data.train}
    labels = [int(capped.valid_ds[i][1]) for i in range(16)]
    assert labels == [by_path[path] for path in capped.valid_ds.items["path"]]
    assert set(labels) == {0, 1, 2}  # an even spread, not the first class's prefix


def test_phase1_freezes_body_except_batchnorm(data, tmp_path):
    spec = make_spec(max_batches=1, one_cycle=False, augmentation=False)
    learn = learner(spec, data, tmp_path)
    body, head = learn.model[0], learn.model[1]
    before = {k: v.clone() for k, v in body.state_dict().items()}
    probe = GroupRates()
    parts.fit_phase(learn, spec, 1, [probe])

    for module in body.modules():
        for p in module.parameters(recurse=False):
            # fastai's train_bn=True keeps BatchNorm trainable in frozen groups
            assert p.requires_grad == isinstance(module, torch.nn.BatchNorm2d)
    assert all(p.requires_grad for p in head.parameters())
    after = body.state_dict()
    convs = [k for k in before if k.endswith(".0.weight")]  # Conv2d weights of each block
    assert convs and all(torch.equal(before[k], after[k]) for k in convs)
    assert any(not torch.equal(before[k], after[k]) for k in before if "running_mean" in k)
    assert probe.rates == [[spec.lr1] * 3]


@pytest.mark.parametrize("one_cycle", [False, True])
def test_phase2_discriminative_rates_reach_layer_groups(data, tmp_path, one_cycle):
    spec = make_spec(max_batches=2, one_cycle=one_cycle, augmentation=False)
    learn = learner(spec, data, tmp_path)
    probe = GroupRates()
    parts.fit_phase(learn, spec, 2, [probe])

    assert all(probe.trainable.values())  # unfrozen
    expected = phase2_group_rates(spec.lr2_low, spec.lr2_high, 3)
    assert len(probe.rates) == 2
    for rates in probe.rates:
        if one_cycle:  # one schedule, scaled per group: ratios stay those of slice(lo, hi)
            assert np.allclose(np.array(rates) / rates[-1], np.array(expected) / expected[-1])
        else:
            assert np.allclose(rates, expected)
            assert rates[0] == pytest.approx(spec.lr2_low)
            assert rates[-1] == pytest.approx(spec.lr2_high)


def test_phase2_without_discriminative_uses_low_rate_everywhere(data, tmp_path):
    spec = make_spec(max_batches=1, one_cycle=False, discriminative_lr=False, augmentation=False)
    learn = learner(spec, data, tmp_path)
    learn.create_opt()
    learn.opt.set_hyper("lr", slice(1e-5, 1e-3))  # fastai spreads a slice over groups
    assert np.allclose([h["lr"] for h in learn.opt.hypers], [1e-5, 1e-4, 1e-3])
    probe = GroupRates()
    parts.fit_phase(learn, spec, 2, [probe])
    assert probe.rates == [[spec.lr2_low] * 3]


def test_lr_finder_leaves_weights_untouched(data, tmp_path):
    spec = make_spec(max_batches=2)
    learn = learner(spec, data, tmp_path)
    learn.freeze()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    reporter = MemoryReporter()
    found = parts.find_lr(learn, spec, reporter)
    assert found is not None
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    lrs, losses, _ = found
    assert len(lrs) == len(losses) >= 10 and all(math.isfinite(loss) for loss in losses)
    # the finder's batches are not training batches; train() reports what it found
    assert reporter.batches == 0 and reporter.epochs == [] and reporter.lr_finder == {}


def test_cancel_after_first_epoch(data, tmp_path):
    reporter = MemoryReporter(stop_after_epochs=1)
    with pytest.raises(Cancelled):
        FastaiBackend().train(make_spec(run_lr_finder=False), data, reporter, tmp_path)
    assert [(e["phase"], e["epoch"]) for e in reporter.epochs] == [(1, 1)]
    assert reporter.batches == 2  # phase 2 never started a batch
    assert not (tmp_path / "model.pkl").exists()


class StopAfterBatches(MemoryReporter):
    def __init__(self, batches: int):
        super().__init__()
        self.limit = batches

    def should_stop(self):
        return self.batches >= self.limit


def test_cancel_stops_within_one_batch(data, tmp_path):
    reporter = StopAfterBatches(1)
    spec = make_spec(run_lr_finder=False, max_batches=3, epochs1=2)
    with pytest.raises(Cancelled):
        FastaiBackend().train(spec, data, reporter, tmp_path)
    assert reporter.batches == 1 and reporter.epochs == []


def test_pretrained_weights_missing_names_file_and_remedy(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    backend = FastaiBackend()
    spec = make_spec(architecture="resnet50", pretrained=True)
    with pytest.raises(WeightsUnavailable) as error:
        backend.check_weights(spec)
    message = str(error.value)
    cache = tmp_path / "hub" / "checkpoints"
    # torchvision's V1 weights (the thesis's generation), not DEFAULT = IMAGENET1K_V2
    assert "resnet50-0676ba61.pth" in message and "V1" in message
    assert str(cache) in message
    assert "python manage.py fetch_weights --library fastai --arch resnet50" in message
    assert "pretrained off" in message
    backend.check_weights(replace(spec, pretrained=False))  # random init needs nothing

    cache.mkdir(parents=True)
    (cache / "resnet50-0676ba61.pth").write_bytes(b"")
    backend.check_weights(spec)

    with pytest.raises(WeightsUnavailable, match="small-cnn has no pretrained"):
        backend.check_weights(replace(spec, architecture="small-cnn"))


def test_vision_learner_loads_exactly_the_checked_file(monkeypatch, data, tmp_path):
    """Put a (random) state dict where check_weights looks; fastai must load it, not download."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    backend = FastaiBackend()
    spec = make_spec(architecture="resnet18", pretrained=True, max_batches=1)
    path = backend.weights_path("resnet18")
    path.parent.mkdir(parents=True)
    state = torchvision.models.resnet18().state_dict()
    torch.save(state, path)
    backend.check_weights(spec)

    learn = learner(spec, data, tmp_path)
    assert torch.equal(learn.model[0][0].weight, state["conv1.weight"])
    from fastai.data.transforms import Normalize

    # ours only: vision_learner does not add ImageNet normalisation a second time
    assert sum(isinstance(t, Normalize) for t in learn.dls.after_batch.fs) == 1


def test_cached_batches_hold_the_decoded_pixels_and_never_call_pil(data, tmp_path, monkeypatch):
    import PIL.Image

    spec = make_spec(max_batches=None, augmentation=False)
    cached = parts.build_dataloaders(spec, data, tmp_path)
    files = parts.build_dataloaders(replace(spec, decode_cache=False), data, tmp_path)
    assert isinstance(cached.valid, parts.CachedBatches) and cached.train.fake_l.num_workers == 0
    augmented = parts.build_dataloaders(
        replace(spec, augmentation=True, batch_size=10), data, tmp_path
    )
    n = len(data.valid)
    # fastai's own loader, decoding each file through PIL: raw uint8 batches, in order
    from_files = next(files.valid.create_batches(range(n)))

    def no_pil(*args, **kwargs):
        raise AssertionError("PIL called for an item")

    monkeypatch.setattr(PIL.Image, "open", no_pil)
    monkeypatch.setattr(PIL.Image, "fromarray", no_pil)
    from_cache = next(cached.valid.create_batches(range(n)))
    assert from_cache[0].dtype == torch.uint8 and from_cache[0].shape == (n, 3, 32, 32)
    assert torch.equal(from_cache[0], from_files[0])
    assert torch.equal(from_cache[1], from_files[1])
    # training: shuffled, fp32 after the batch transforms, the last partial batch dropped
    batches = list(augmented.train)
    assert len(batches) == len(augmented.train) == len(data.train) // 10
    assert all(x.shape[0] == 10 and x.dtype == torch.float32 for x, _ in batches)
