"""The GPU path, torch side (TensorFlow is never imported in this process): Keras backend
auto-selection, failures through one mapping, speed settings reaching fastai, V1 weights, the
leak-free split, and several jobs at once on one worker.

The Keras side of the same settings is in test_keras_backend.py (its own process).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments.datasets.demo import write_digits
from experiments.datasets.importer import Candidate, ImportOptions, clean
from experiments.models import Dataset, TrainingJob, WorkerHeartbeat
from tests.conftest import ROOT, Worker, wait_for
from tests.workers.tiny import TINY_JOB
from workers.training import devices
from workers.training.failures import describe
from workers.training.spec import SplitData

from .tiny import tiny_spec

pytestmark = pytest.mark.slow

SMALL = TINY_JOB


# ------------------------------------------------------------------ backend auto-selection
def fake_host(monkeypatch, installed: set[str], gpu_for: set[str]):
    monkeypatch.setattr(devices, "installed", lambda module: module in installed)
    return lambda library: library in gpu_for


@pytest.mark.parametrize(
    ("installed", "gpu_for", "expected"),
    [
        ({"torch"}, {"torch"}, "torch"),  # a CUDA image: torch, no TensorFlow
        ({"torch"}, set(), "torch"),  # torch only, no GPU: still torch, on the CPU
        ({"tensorflow", "torch"}, {"tensorflow", "torch"}, "tensorflow"),
        ({"tensorflow", "torch"}, {"torch"}, "torch"),  # TF without its CUDA libraries
        ({"tensorflow", "torch"}, set(), "tensorflow"),  # CPU host: TensorFlow on the CPU
    ],
)
def test_auto_picks_the_library_that_sees_the_gpu(monkeypatch, installed, gpu_for, expected):
    probe = fake_host(monkeypatch, installed, gpu_for)
    choice = devices.resolve_keras_backend("auto", sees_gpu=probe)
    assert choice.backend == expected and choice.reason.startswith("auto:")


def test_an_explicit_backend_that_is_missing_says_what_to_change(monkeypatch):
    probe = fake_host(monkeypatch, {"torch"}, {"torch"})
    with pytest.raises(devices.DeviceError) as error:
        devices.resolve_keras_backend("tensorflow", sees_gpu=probe)
    assert "not installed" in str(error.value) and "'auto'" in str(error.value)
    assert devices.resolve_keras_backend("torch", sees_gpu=probe).backend == "torch"
    # and the one mapping turns it into the job's reason
    assert describe(error.value).reason == str(error.value)


def test_the_real_probe_finds_no_gpu_on_this_cpu_host(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not devices.host_has_gpu()
    assert devices.library_sees_gpu("torch") is False
    assert devices.resolve_keras_backend("auto").backend in ("tensorflow", "torch")
    assert devices.resolve_precision("auto", on_gpu=True) == "bf16-mixed"
    assert devices.resolve_precision("auto", on_gpu=False) == "fp32"
    assert devices.resolve_precision("fp32", on_gpu=True) == "fp32"


def test_runner_turns_gpu_only_settings_off_on_the_cpu():
    from workers.training.runner import effective_spec

    spec = tiny_spec("fastai")
    assert (spec.precision, spec.channels_last, spec.compile) == ("auto", True, True)
    cpu = effective_spec(spec, "cpu")
    assert (cpu.precision, cpu.channels_last, cpu.compile) == ("fp32", False, False)
    gpu = effective_spec(spec, "NVIDIA H200")
    assert (gpu.precision, gpu.channels_last, gpu.compile) == ("bf16-mixed", True, True)
    assert effective_spec(replace(spec, precision="fp32"), "NVIDIA H200").precision == "fp32"


# ------------------------------------------------------------------ failures
def test_gpu_out_of_memory_is_explained():
    import torch

    reason = describe(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")).reason
    assert "GPU ran out of memory" in reason and "batch size" in reason
    # TensorFlow's ResourceExhaustedError is recognised by name (no TensorFlow import here)
    tf_oom = type("ResourceExhaustedError", (RuntimeError,), {})("OOM when allocating tensor")
    assert "GPU ran out of memory" in describe(tf_oom).reason
    missing = ModuleNotFoundError("No module named 'fastai'", name="fastai")
    assert "could not import fastai" in describe(missing).reason


def test_a_job_that_fails_in_its_imports_ends_failed_with_the_reason(
    worker_env, tiny_dataset, tmp_path, monkeypatch
):
    """A worker whose fastai cannot be imported: the job is failed with what happened and
    what to change, not "exited with code 1"."""
    from experiments.jobs.actions import create_job
    from workers.supervisor import supervise

    broken = tmp_path / "broken"
    (broken / "fastai").mkdir(parents=True)
    (broken / "fastai" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'fastai.vision'\", name='fastai.vision')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(broken))
    job = create_job({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    assert supervise(job.pk, task_id="imports") == TrainingJob.FAILED
    job.refresh_from_db()
    assert job.error.startswith("The job could not import fastai.vision on this worker")
    assert "requirements" in job.error and "exited with code" not in job.error
    assert "ModuleNotFoundError" in job.error  # the detail (traceback) follows the reason


# ------------------------------------------------------------------ fastai settings
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SplitData:
    root = tmp_path_factory.mktemp("digits")
    write_digits(root, per_class=12, size=40, classes=3)  # 40 px files, trained at 32 px
    split = SplitData(classes=["0", "1", "2"])
    for label in range(3):
        files = sorted((root / str(label)).glob("*.png"))
        split.train += [(p, label) for p in files[:8]]
        split.valid += [(p, label) for p in files[8:10]]
        split.test += [(p, label) for p in files[10:]]
    return split


def test_decode_once_cache_gives_the_same_pixels_as_decoding(data, tmp_path):
    from workers.training import fastai_parts as parts

    spec = tiny_spec("fastai", augmentation=False, max_batches=None)
    cached = parts.build_dataloaders(spec, data, tmp_path)
    plain = parts.build_dataloaders(replace(spec, decode_cache=False), data, tmp_path)

    assert cached.decode_cache.dtype == np.uint8 and cached.decode_cache.shape == (30, 32, 32, 3)
    assert plain.decode_cache is None
    for loader in ("train", "valid"):  # 40 px files: both resize to 32 px the same way
        unshuffled = getattr(cached, loader).new(shuffle=False)
        assert isinstance(unshuffled, parts.CachedBatches)
        x_cached, y_cached = unshuffled.one_batch()
        x_plain, y_plain = getattr(plain, loader).new(shuffle=False).one_batch()
        assert x_cached.shape[1:] == (3, 32, 32)
        np.testing.assert_allclose(x_cached.numpy(), x_plain.numpy(), atol=1e-6)
        assert y_cached.tolist() == y_plain.tolist()


def test_precision_and_channels_last_reach_the_fastai_model(data, tmp_path):
    import torch

    from workers.training import fastai_parts as parts

    spec = tiny_spec("fastai", precision="bf16-mixed", channels_last=True, max_batches=1)
    dls = parts.build_dataloaders(spec, data, tmp_path)
    learn = parts.build_learner(spec, dls, tmp_path)
    assert any(isinstance(cb, parts.Bf16Autocast) for cb in learn.cbs)
    conv = next(m for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)

    dtypes = []
    hook = conv.register_forward_hook(lambda module, inputs, out: dtypes.append(out.dtype))
    learn.fit(1, 1e-3)
    hook.remove()
    assert dtypes and dtypes[0] == torch.bfloat16  # the forward pass ran under bf16 autocast
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())

    plain = parts.build_learner(replace(spec, precision="fp32", channels_last=False), dls, tmp_path)
    assert not any(isinstance(cb, parts.Bf16Autocast) for cb in plain.cbs)
    conv = next(m for m in plain.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_fastai_loads_torchvision_v1_weights_and_the_preset_records_real_betas(data, tmp_path):
    from experiments.jobs.presets import ONE_CYCLE_MOMENTA, TABLE_4_1
    from workers.training import fastai_parts as parts
    from workers.training.fastai_backend import FastaiBackend
    from workers.training.fastai_optim import FusedAdamW

    backend = FastaiBackend()
    assert backend.weights_path("resnet50").name == "resnet50-0676ba61.pth"
    assert backend.weights_path("resnet101").name == "resnet101-63fe2227.pth"
    assert parts.imagenet_v1("resnet50").name == "IMAGENET1K_V1"
    preset = TABLE_4_1["fastai"]
    assert (preset["beta1"], preset["beta2"]) == (0.9, 0.99) and ONE_CYCLE_MOMENTA[1] == 0.85
    # with one-cycle off, the optimizer really uses the recorded betas
    spec = tiny_spec("fastai", one_cycle=False, discriminative_lr=False, max_batches=1)
    learn = parts.build_learner(spec, parts.build_dataloaders(spec, data, tmp_path), tmp_path)
    learn.create_opt()
    assert learn.opt_func.func is FusedAdamW  # fastai's Adam update, torch's fused kernels
    hypers = learn.opt.hypers[0]
    assert (hypers["mom"], hypers["sqr_mom"]) == (0.9, 0.99)


# ------------------------------------------------------------------ leak-free split
def test_identical_images_never_straddle_train_and_valid():
    images = [Candidate(f"Train/a/{i:03}.jpg", "a", "train", f"h{i}") for i in range(40)]
    images += [Candidate(f"Train/b/{i:03}.jpg", "b", "train", f"g{i}") for i in range(40)]
    # four byte-identical pairs within a class (kept, as the thesis preset keeps them)
    for n, (label, k) in enumerate([("a", 3), ("a", 17), ("b", 5), ("b", 30)]):
        images.append(Candidate(f"Train/{label}/dup{n}.jpg", label, "train", f"{label}x{k}"))
        for c in images:
            if c.path == f"Train/{label}/{k:03}.jpg":
                c.sha256 = f"{label}x{k}"
    images += [Candidate(f"Test/a/{i}.jpg", "a", "test", f"t{i}") for i in range(5)]
    for seed in range(20):
        options = ImportOptions(valid_fraction=0.3, seed=seed, dedupe_within_class=False)
        decisions, report = clean(images, options, Dataset.KAGGLE)
        assert report["splits"]["valid"] == int(84 * 0.3)  # the size stays exact
        by_hash: dict[str, set[str]] = {}
        for c in images:
            by_hash.setdefault(c.sha256, set()).add(decisions[c.path][0])
        assert all(len(splits) == 1 for splits in by_hash.values())
        kept = report["duplicates_in_one_split"]
        assert len(kept) == 4 and {g["split"] for g in kept} <= {"train", "valid"}


# ------------------------------------------------------------------ N jobs per GPU worker
def start_threads_worker(env: dict, tmp_path: Path, concurrency: int) -> Worker:
    """A gpu-queue worker that runs `concurrency` jobs at once (threads pool), as
    scripts/run.sh starts it with GPU_JOBS_PER_WORKER."""
    worker = Worker.__new__(Worker)
    worker.name, worker.log = "multi", tmp_path / "multi.log"
    args = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu",
            "--hostname", "multi@%h", "--pool", "threads", "--concurrency", str(concurrency),
            "--prefetch-multiplier", "1", "--loglevel", "INFO", "--without-mingle",
            "--without-gossip"]  # fmt: skip
    worker.process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=worker.log.open("ab"), stderr=subprocess.STDOUT
    )
    return worker


def test_a_gpu_worker_runs_several_jobs_at_once(worker_env, tiny_dataset, tmp_path):
    from experiments.jobs.actions import launch

    worker = start_threads_worker(worker_env, tmp_path, concurrency=2)
    try:
        worker.wait_ready()
        long = {**SMALL, "max_batches": 1, "epochs1": 2, "epochs2": 2}
        jobs = [
            launch({"library": "fastai", "dataset": tiny_dataset, **long, "seed": seed})
            for seed in (1, 2)
        ]
        # both running at the same moment, each in its own child process
        # (claimed first, then the child started and its pid recorded: wait for both)
        wait_for(
            lambda: (
                TrainingJob.objects.filter(status="running", process_id__isnull=False).count() == 2
            ),
            180,
            message="two jobs running at once",
        )
        running = list(TrainingJob.objects.filter(status="running"))
        assert len({job.process_id for job in running}) == 2
        for job in jobs:
            wait_for(lambda job=job: job.__class__.objects.get(pk=job.pk).is_finished, 300)
        beat = WorkerHeartbeat.objects.get(hostname__startswith="multi@")
        assert beat.job_slots == 2 and "no GPU" in beat.warning
        for job in jobs:
            job.refresh_from_db()
            assert job.status == TrainingJob.SUCCEEDED, job.error
            assert list(job.metrics.values_list("phase", "epoch")) == [
                (1, 1),
                (1, 2),
                (2, 1),
                (2, 2),
            ]
            assert job.manifest["settings"]["precision"] == "fp32"  # auto on the CPU
            assert job.manifest["settings"]["decode_cache"] is True
            assert job.manifest["known_differences"]
    finally:
        worker.stop()


def test_eta_is_estimated_per_phase():
    from types import SimpleNamespace

    from workers.training.db_reporter import eta_by_phase

    job = SimpleNamespace(epochs1=3, epochs2=4)
    # phase 1, epoch 1 of 3 done at 10 s: 2 more of phase 1, phase 2 unknown -> at 10 s too
    assert eta_by_phase(job, 1, 1, 10.0, {1: [10.0]}) == pytest.approx(2 * 10 + 4 * 10)
    # phase 2 runs at 30 s an epoch: its own time, not phase 1's
    assert eta_by_phase(job, 2, 1, 30.0, {1: [10.0] * 3, 2: [30.0]}) == pytest.approx(3 * 30)
    assert eta_by_phase(job, 2, 4, 30.0, {1: [10.0] * 3, 2: [30.0] * 4}) == 0
