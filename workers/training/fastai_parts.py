"""fastai pieces for FastaiBackend: architectures, DataLoaders, the reporting callback, phases.

Imported only inside a job's child process (it imports torch and fastai at module level).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import valley
from fastai.data.block import CategoryBlock, ColReader, ColSplitter, DataBlock
from fastai.data.core import DataLoaders, TfmdDL
from fastai.data.transforms import Normalize
from fastai.learner import Learner, Recorder
from fastai.metrics import accuracy
from fastai.torch_core import TensorCategory, TensorImage, find_bs, params
from fastai.vision.augment import Resize, ResizeMethod, aug_transforms
from fastai.vision.core import imagenet_stats
from fastai.vision.data import ImageBlock
from fastai.vision.learner import vision_learner
from fastcore.basics import noop
from fastcore.foundation import L
from torch import nn
from torchvision import models as tvm

from . import fastai_augment
from .base import cores_per_job, spread
from .fastai_optim import FusedAdamW
from .image_cache import decode_all
from .reporting import Reporter
from .spec import JobSpec, SplitData

fastai_augment.install()  # the same batch augmentation, without device->host reads

# fastai's one-cycle momentum (Adam β1) schedule; Table 4.1 of the thesis lists it as
# "β1 0.95, β2 0.85". experiments.jobs.presets.ONE_CYCLE_MOMENTA, beside Adam's β 0.9 / 0.99.
ONE_CYCLE_MOMS = (0.95, 0.85, 0.95)


def small_cnn(pretrained: bool = False, **kwargs) -> nn.Module:
    """Four conv blocks, then a pooling layer where vision_learner cuts the body off.
    For CPU runs; it has no ImageNet weights."""
    if pretrained:
        raise ValueError("small-cnn has no pretrained weights")

    def block(n_in: int, n_out: int, pool: bool) -> nn.Sequential:
        layers = [
            nn.Conv2d(n_in, n_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(n_out),
            nn.ReLU(inplace=True),
        ]
        return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))

    return nn.Sequential(
        block(3, 16, True),
        block(16, 32, True),
        block(32, 64, True),
        block(64, 128, False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 1000),
    )


def small_cnn_split(model: nn.Module) -> L:
    """Three layer groups like fastai's resnet split (early body, late body, head), so
    discriminative rates have a middle group too."""
    return L(model[0][:2], model[0][2:], model[1:]).map(params)


ARCHS: dict[str, Callable] = {
    # fastai's model_meta knows the *_bn VGG variants (cut, split, ImageNet stats)
    "vgg16": tvm.vgg16_bn,
    "vgg19": tvm.vgg19_bn,
    "resnet18": tvm.resnet18,
    "resnet50": tvm.resnet50,
    "resnet101": tvm.resnet101,
    "densenet121": tvm.densenet121,
    "densenet169": tvm.densenet169,
    "small-cnn": small_cnn,
}


class CachedImages:
    """get_x: a row's pixels from the job's decode-once cache (uint8 HWC), else its file path.
    An exported learner keeps no pixels: its rows (test_dl) carry paths only."""

    def __init__(self, cache: np.ndarray | None = None):
        self.cache = cache

    def __call__(self, row):
        index = int(row.get("index", -1))
        if self.cache is not None and index >= 0:
            return self.cache[index]
        return row["path"]

    def __getstate__(self) -> dict:
        return {"cache": None}


class CachedBatches(TfmdDL):
    """Training/validation batches sliced from the decode-once cache: uint8 pixels (N, H, W, 3)
    kept on the batches' device, a batch gathered by row index, then fastai's batch transforms
    (float32, augmentation, normalisation) on that device. No PIL and no worker processes.

    Anything derived from it (a test set, an export's empty loaders) is a plain TfmdDL that
    reads files through PIL."""

    def __init__(self, dataset=None, pixels=None, labels=None, **kwargs):
        super().__init__(dataset, **kwargs)
        self.pixels, self.labels = pixels, labels

    def create_batches(self, samps):
        # this pass's order (fastai's seeded shuffle), copied to the device once per pass
        order = torch.as_tensor(list(samps), dtype=torch.long, device=self.pixels.device)
        end = len(order) - len(order) % self.bs if self.drop_last else len(order)
        for start in range(0, end, self.bs):
            rows = order[start : start + self.bs]
            # NCHW view of NHWC rows: channels-last memory, as the model wants it on a GPU
            yield (
                TensorImage(self.pixels[rows].permute(0, 3, 1, 2)),
                TensorCategory(self.labels[rows]),
            )

    def new(self, dataset=None, cls=None, **kwargs):
        if dataset is None and cls is None:  # the same rows (say, unshuffled): the same cache
            kwargs = {"pixels": self.pixels, "labels": self.labels, "num_workers": 0, **kwargs}
            return super().new(None, CachedBatches, **kwargs)
        return super().new(dataset, cls or TfmdDL, **kwargs)


def cached_loader(dl: TfmdDL, pixels: torch.Tensor, labels: list[int]) -> CachedBatches:
    """`dl` (its batch size, shuffling, drop_last and batch transforms) reading from `pixels`."""
    device = dl.device or torch.device("cpu")
    return dl.new(
        cls=CachedBatches,
        pixels=pixels.to(device),
        labels=torch.as_tensor(labels, dtype=torch.long, device=device),
        num_workers=0,
    )


def build_dataloaders(spec: JobSpec, data: SplitData, workdir: Path) -> DataLoaders:
    cap = spec.max_batches * spec.batch_size if spec.max_batches else None
    train, valid = spread(data.train, cap), spread(data.valid, cap)
    cache = None
    if spec.decode_cache:  # decode + resize once; every epoch then reads the array
        cache = decode_all([p for p, _ in train + valid], spec.image_size)
    rows = [(str(p), data.classes[y], False, i) for i, (p, y) in enumerate(train)]
    rows += [(str(p), data.classes[y], True, len(train) + i) for i, (p, y) in enumerate(valid)]
    frame = pd.DataFrame(rows, columns=["path", "label", "is_valid", "index"])
    normalize = Normalize.from_stats(*imagenet_stats)
    batch_tfms = [*aug_transforms(flip_vert=True), normalize] if spec.augmentation else [normalize]
    block = DataBlock(
        # fixed vocab, unsorted: probability columns follow SplitData.classes
        blocks=(ImageBlock, CategoryBlock(vocab=list(data.classes), sort=False)),
        get_x=CachedImages(cache),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
        # squish (no crop), as Keras and the cache do: both libraries see the whole image
        item_tfms=Resize(spec.image_size, method=ResizeMethod.Squish),
        batch_tfms=batch_tfms,
    )
    # fastai drops the last partial training batch (BatchNorm needs >1 item, and a smaller
    # last batch would compile another graph); keep one batch
    bs = max(1, min(spec.batch_size, len(train)))
    # fastai starts its loader workers anew on every pass (its DataLoader ignores
    # persistent_workers); with the cache there is no per-item work and no workers at all
    dls = block.dataloaders(
        frame,
        bs=bs,
        val_bs=2 * bs,  # no gradients in validation: twice the batch fits
        num_workers=0 if cache is not None else data_workers(),
        path=workdir,
    )
    if cache is not None:
        pixels = torch.from_numpy(cache)  # shares the array's memory on the CPU
        dls.loaders[0] = cached_loader(dls.train, pixels[: len(train)], [y for _, y in train])
        dls.loaders[1] = cached_loader(dls.valid, pixels[len(train) :], [y for _, y in valid])
    dls.decode_cache = cache  # for logs and tests; export does not keep it
    return dls


def data_workers() -> int:
    """Decode/augment processes. On a GPU one core cannot keep up (bench/input_pipeline.py:
    ~310 img/s per core at 256 px), so use several; on a CPU they would only compete with the
    model for the same cores. TRAINING_DATA_WORKERS overrides."""
    if os.environ.get("TRAINING_DATA_WORKERS"):
        return max(0, int(os.environ["TRAINING_DATA_WORKERS"]))
    import torch

    return min(8, cores_per_job()) if torch.cuda.is_available() else 0


def imagenet_v1(architecture: str):
    """torchvision's ImageNet V1 weights: those of the thesis's time, the same generation as
    Keras's (DEFAULT is V2 for ResNet50/101, about 5 points stronger on ImageNet)."""
    from torchvision.models import get_model_weights

    return get_model_weights(ARCHS[architecture]).IMAGENET1K_V1


class Bf16Autocast(Callback):
    """bf16 mixed precision on the dataloaders' device (CPU or GPU): forward pass and loss
    under autocast, weights and optimizer in float32, predictions back in float32."""

    order = 10

    def before_batch(self) -> None:
        self.autocast = torch.autocast(self.dls.device.type, dtype=torch.bfloat16)
        self.autocast.__enter__()

    def after_pred(self) -> None:
        self.learn.pred = self.pred.float()

    def after_loss(self) -> None:
        self._leave()

    def after_batch(self) -> None:  # a cancelled batch may skip after_loss
        self._leave()

    def _leave(self) -> None:
        if getattr(self, "autocast", None) is not None:
            self.autocast.__exit__(None, None, None)
            self.autocast = None


def build_learner(spec: JobSpec, dls: DataLoaders, workdir: Path) -> Learner:
    arch = ARCHS[spec.architecture]
    # fastai's Adam update (β1 0.9, β2 0.99 in the preset, eps 1e-5, decoupled weight decay
    # but none on BatchNorm/biases; one-cycle schedules β1 itself, ONE_CYCLE_MOMS) done by
    # torch's fused/foreach AdamW: a few kernels per step instead of several per parameter
    opt_func = partial(FusedAdamW, mom=spec.beta1, sqr_mom=spec.beta2)
    extra = {"splitter": small_cnn_split} if arch is small_cnn else {}
    if spec.pretrained and arch is not small_cnn:
        extra["weights"] = imagenet_v1(spec.architecture)
    learn = vision_learner(
        dls,
        arch,
        pretrained=spec.pretrained,
        metrics=accuracy,
        wd=spec.weight_decay,
        n_out=len(dls.vocab),
        opt_func=opt_func,
        path=workdir,
        moms=ONE_CYCLE_MOMS,
        **extra,
    )
    learn.remove_cb(ProgressCallback)  # no per-batch bars in the job log
    learn.logger = noop  # the Recorder would print each epoch's table row
    if spec.precision == "bf16-mixed":
        learn.add_cb(Bf16Autocast())
    if spec.channels_last:
        learn.model.to(memory_format=torch.channels_last)
    if spec.compile:  # in place: the module (and what export pickles) stays the same
        learn.model.compile()
    return learn


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class ReportCallback(Callback):
    """Reports batches/epochs to the Reporter and stops the fit when it asks to.

    Runs after the Recorder (order 50) so that the epoch's values are final."""

    order = Recorder.order + 1

    def __init__(self, reporter: Reporter, phase: int, epochs: int = 0, report: bool = True):
        self.reporter, self.phase, self.epochs, self.report = reporter, phase, epochs, report
        self.cancelled = False

    def before_epoch(self) -> None:
        self.started, self.images, self.train_seconds = time.perf_counter(), 0, None

    def after_train(self) -> None:
        # validation comes next: images/s counts the training pass only
        self.train_seconds = time.perf_counter() - self.started

    def after_batch(self) -> None:
        if not self.training:
            return
        if self.report:
            self.images += find_bs(self.yb)
            self.reporter.batch_done()
        if self.reporter.should_stop():
            self.cancelled = True
            raise CancelFitException()

    def after_epoch(self) -> None:
        if not self.report:
            return
        names = self.recorder.metric_names[1:-1]  # drop "epoch" and "time"
        values = dict(zip(names, self.learn.final_record, strict=False))
        metrics = {
            "train_loss": _number(values.get("train_loss")),
            "valid_loss": _number(values.get("valid_loss")),
            "valid_accuracy": _number(values.get("accuracy")),
            "learning_rate": _number(self.opt.hypers[-1]["lr"]),
            "seconds": time.perf_counter() - self.started,
            "train_seconds": self.train_seconds,
            "images": self.images,
        }
        epoch = self.epoch + 1
        self.reporter.epoch_done(self.phase, epoch, **metrics)
        shown = {k: ("-" if v is None else f"{v:.4g}") for k, v in metrics.items()}
        self.reporter.log(
            f"phase {self.phase} epoch {epoch}/{self.epochs}: train_loss {shown['train_loss']} "
            f"valid_loss {shown['valid_loss']} accuracy {shown['valid_accuracy']} "
            f"lr {shown['learning_rate']} ({metrics['seconds']:.1f}s, {self.images} images)"
        )


def find_lr(
    learn: Learner, spec: JobSpec, reporter: Reporter
) -> tuple[list[float], list[float], float | None] | None:
    """fastai's LR finder on the frozen model (it restores the weights afterwards).
    Returns the curve's finite points (rates, losses) and fastai's valley suggestion, or None
    if the reporter asked to stop."""
    num_it = min(100, 10 * spec.max_batches) if spec.max_batches else 100
    watcher = ReportCallback(reporter, phase=1, report=False)
    with learn.added_cbs(watcher):
        learn.lr_find(num_it=num_it, show_plot=False, suggest_funcs=None)
    if watcher.cancelled:
        return None
    lrs = [float(x) for x in learn.recorder.lrs]
    losses = [float(x) for x in learn.recorder.losses]
    # fastai's own window for suggestions: skip the first 10% and the last 5 points
    window = [(lr, loss) for lr, loss in zip(lrs, losses, strict=False)][num_it // 10 : -5]
    suggestion = None
    finite = [(lr, loss) for lr, loss in window if math.isfinite(loss)]
    if len(finite) >= 3:
        try:
            suggestion = float(
                valley(
                    torch.tensor([p[0] for p in finite]),
                    torch.tensor([p[1] for p in finite]),
                    num_it,
                )[0]
            )
        except (IndexError, ValueError):  # too few points for a valley
            suggestion = None
    points = [(lr, loss) for lr, loss in zip(lrs, losses, strict=False) if math.isfinite(loss)]
    return [p[0] for p in points], [p[1] for p in points], suggestion


def phase_rate(spec: JobSpec, phase: int) -> float | slice:
    if phase == 1:
        return spec.lr1
    return slice(spec.lr2_low, spec.lr2_high) if spec.discriminative_lr else spec.lr2_low


def set_phase(learn: Learner, phase: int) -> None:
    """Phase 1: body frozen (BatchNorm still trains: fastai's train_bn); phase 2: all layers
    trainable (thesis §4.2.2)."""
    if phase == 1:
        learn.freeze()
    else:
        learn.unfreeze()


def fit_epochs(learn: Learner, spec: JobSpec, phase: int, epochs: int, cbs: list[Callback]) -> None:
    """Train `epochs` epochs at the phase's rate(s), one-cycle if the job asks."""
    rate = phase_rate(spec, phase)
    if spec.one_cycle:
        learn.fit_one_cycle(epochs, rate, moms=ONE_CYCLE_MOMS, cbs=cbs)
    else:
        learn.fit(epochs, rate, cbs=cbs)


def fit_phase(learn: Learner, spec: JobSpec, phase: int, cbs: list[Callback]) -> None:
    """One whole phase of the job (its trainability, its epochs), as FastaiBackend runs it."""
    set_phase(learn, phase)
    fit_epochs(learn, spec, phase, spec.epochs1 if phase == 1 else spec.epochs2, cbs)


def predict(learn: Learner, images: list[Path]) -> list[list[float]]:
    """Class probabilities (softmax), columns in vocab order, with the validation transforms."""
    if not images:
        return []
    # the x pipeline starts with ColReader("path"): give it rows, as in training
    dl = learn.dls.test_dl(
        pd.DataFrame({"path": [str(p) for p in images]}), num_workers=data_workers()
    )
    probs, _ = learn.get_preds(dl=dl)
    return probs.float().tolist()
