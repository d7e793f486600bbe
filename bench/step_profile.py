#!/usr/bin/env python3
"""What one training step costs, readable on a CPU: operators, host syncs, compiled graphs.

    .venv/bin/python bench/step_profile.py --library keras|fastai [--keras-backend torch]
        --arch resnet18 --size 64 --batch 32 [--steps 3] [--compile-backend inductor] [--smoke]

It trains through the backend's own train() (the job's DataLoaders/datasets, model,
augmentation, optimizer and loop) on generated images, phase 2 only (every layer trainable),
two epochs of `--steps` batches. The first epoch is the warm-up (graphs are traced and
compiled there); one step of the second is recorded with torch.profiler, from the end of one
training batch to the end of the next, so data, augmentation, forward, backward and the
optimizer are all in it. Compiled steps are on (what a GPU job runs; a CPU job does not
compile). Keras runs in a child process with KERAS_BACKEND set, so torch and TensorFlow never
meet in one process.

Prints one JSON line:
  kernels_per_step            operators launched in the step: CUDA kernels on a GPU; on a CPU
                              the aten operators called from Python or autograd (not those an
                              operator calls inside its own CPU code) plus inductor's fused
                              kernels; views and allocations launch nothing and are not counted
  augment_kernels_per_batch   of those, the batch augmentation's (Keras: its layers called on
                              one batch by themselves)
  optimizer_kernels_per_step  of those, the optimizer step's (null where it is not separable)
  host_syncs_per_step         device->host reads that stop a GPU stream (aten::item /
                              _local_scalar_dense, nonzero, blocking copies and synchronizes);
                              not fastai's rate schedules, which read tensors kept on the CPU
  graphs, graph_breaks        torch._dynamo's counters over the whole run (null: no compile)
  recompiles                  graphs compiled during the second epoch (should be 0)

A measurement, not a test: figures are not judged here (bench/README.md has them);
--smoke (small-cnn, 32 px, batch 8, 2 steps, dynamo's "eager" backend) only checks it runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AUGMENT, OPTIMIZER = "step_profile.augment", "step_profile.optimizer"
# fastai's schedulers compute the next rates and momenta from tensors that live on the CPU:
# the scalars they read never wait for a device
CPU_SCHEDULE = "step_profile.cpu_schedule"
# Operators that only make views or allocate: no kernel is launched for them.
NO_KERNEL = {
    "aten::empty",
    "aten::empty_strided",
    "aten::empty_like",
    "aten::view",
    "aten::_unsafe_view",
    "aten::as_strided",
    "aten::reshape",
    "aten::_reshape_alias",
    "aten::t",
    "aten::transpose",
    "aten::permute",
    "aten::expand",
    "aten::squeeze",
    "aten::unsqueeze",
    "aten::select",
    "aten::slice",
    "aten::narrow",
    "aten::detach",
    "aten::detach_",
    "aten::alias",
    "aten::lift_fresh",
    "aten::resolve_conj",
    "aten::resolve_neg",
    "aten::set_",
    "aten::unbind",
    "aten::split",
    "aten::chunk",
    "aten::result_type",
    "aten::view_as",
    "aten::expand_as",
    "aten::flatten",
    "aten::contiguous",
    "aten::to",
    "aten::_to_copy",
    "aten::is_nonzero",
    "aten::item",
}
SYNCS = {
    "aten::_local_scalar_dense",
    "aten::nonzero",
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaMemcpy",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", choices=["keras", "fastai"], required=True)
    parser.add_argument("--keras-backend", choices=["torch"], default="torch")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="batches per epoch (>= 2)")
    parser.add_argument("--compile-backend", default="inductor", help="none: no compile")
    parser.add_argument("--smoke", action="store_true", help="the smallest run: does it work")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.arch, args.size, args.batch, args.steps = "small-cnn", 32, 8, 2
        args.compile_backend = "eager"  # dynamo traces (counters hold) without inductor
    args.steps = max(2, args.steps)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.library == "keras" and not args.child:
        env = {**os.environ, "KERAS_BACKEND": args.keras_backend}
        argv = sys.argv[1:] if argv is None else argv
        child = subprocess.run(
            [sys.executable, __file__, *argv, "--child"], env=env, capture_output=True, text=True
        )
        if child.returncode != 0:
            sys.stderr.write(child.stdout[-4000:] + child.stderr[-8000:])
            return child.returncode
        print(child.stdout.strip().splitlines()[-1])
        return 0
    print(json.dumps(profile(args)))
    return 0


# --------------------------------------------------------------------------- counting


def kernels(events, on_gpu: bool) -> list:
    """The events that launch a kernel (see the module docstring)."""
    from torch.autograd import DeviceType

    if on_gpu:
        return [e for e in events if e.device_type == DeviceType.CUDA]
    return [
        e
        for e in events
        if e.name.startswith(("cpp_fused", "triton_"))
        or (e.name.startswith("aten::") and e.name not in NO_KERNEL and not under_aten(e))
    ]


def under_aten(event) -> bool:
    """Called by another operator: part of its CPU implementation, not a launch of its own."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return True
        parent = parent.cpu_parent
    return False


def host_syncs(events) -> int:
    """Scalar reads (item, `if tensor:`, error checks) and nonzero; fused Adam's CPU kernel
    reads its step counter the same way, which its CUDA kernel does on the device."""
    count = 0
    for e in events:
        if e.name in SYNCS and not (inside(e, "aten::_fused_adamw_") or inside(e, CPU_SCHEDULE)):
            count += 1
    return count


def inside(event, name: str) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == name:
            return True
        parent = parent.cpu_parent
    return False


def summary(prof, on_gpu: bool) -> dict:
    events = list(prof.events())
    launched = kernels(events, on_gpu)
    cpu_launched = launched if not on_gpu else kernels(events, False)
    return {
        "kernels_per_step": len(launched),
        "augment_kernels_per_batch": sum(inside(e, AUGMENT) for e in cpu_launched) or None,
        "optimizer_kernels_per_step": sum(inside(e, OPTIMIZER) for e in cpu_launched) or None,
        "host_syncs_per_step": host_syncs(events),
    }


class Ranged:
    """A callable run inside a named profiler range; everything else goes to the original."""

    def __init__(self, inner, name: str):
        self.inner, self.name = inner, name

    def __call__(self, *args, **kwargs):
        import torch

        with torch.profiler.record_function(self.name):
            return self.inner(*args, **kwargs)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


def ranged_method(cls, method: str, name: str):
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        import torch

        with torch.profiler.record_function(name):
            return original(self, *args, **kwargs)

    setattr(cls, method, wrapper)
    return lambda: setattr(cls, method, original)


# --------------------------------------------------------------------------- the run


def make_reporter(steps: int, on_gpu: bool):
    """A MemoryReporter that records one steady step and then asks the job to stop."""
    import torch
    from torch._dynamo.utils import counters

    from workers.training.reporting import MemoryReporter

    class StepProfiler(MemoryReporter):
        def __init__(self):
            super().__init__()
            self.epoch, self.in_epoch, self.prof, self.result = 0, 0, None, None
            self.graphs_after_warmup = None

        def batch_done(self):
            super().batch_done()
            self.in_epoch += 1
            if self.epoch != 1 or self.result is not None:
                return
            if self.in_epoch == 1:  # the second epoch's first batch is done: record the next
                activities = [torch.profiler.ProfilerActivity.CPU]
                if on_gpu:
                    torch.cuda.synchronize()
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                self.prof = torch.profiler.profile(activities=activities)
                self.prof.__enter__()
            elif self.in_epoch == 2:
                if on_gpu:
                    torch.cuda.synchronize()
                self.prof.__exit__(None, None, None)
                self.result = summary(self.prof, on_gpu)

        def epoch_done(self, phase, epoch, **metrics):
            super().epoch_done(phase, epoch, **metrics)
            self.epoch, self.in_epoch = self.epoch + 1, 0
            if self.epoch == 1:
                self.graphs_after_warmup = counters["stats"]["unique_graphs"]

        def should_stop(self):
            return self.result is not None

    return StepProfiler()


def write_images(root: Path, size: int, counts: dict[str, int]):
    """Random RGB images, a little larger than `size` so that the resize runs as in a job."""
    import numpy as np
    from PIL import Image

    from workers.training.spec import SplitData

    rng = np.random.default_rng(0)
    data = SplitData(classes=["a", "b"])
    for split, count in counts.items():
        for i in range(count):
            path = root / split / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (size + size // 4, size + size // 4, 3), np.uint8)
            Image.fromarray(pixels).save(path)
            getattr(data, split).append((path, i % 2))
    return data


def job_spec(args, on_gpu: bool):
    from experiments.jobs.presets import TABLE_4_1
    from workers.training.devices import resolve_precision
    from workers.training.spec import JobSpec

    preset = {k: v for k, v in TABLE_4_1[args.library].items() if k in JobSpec.__dataclass_fields__}
    return JobSpec(
        **{
            **preset,
            "job_id": 0,
            "library": args.library,
            "keras_backend": args.keras_backend,
            "architecture": args.arch,
            "image_size": args.size,
            "batch_size": args.batch,
            "epochs1": 0,  # phase 2 only: every layer trains, the optimizer steps them all
            "epochs2": 2,
            "max_batches": args.steps,
            "pretrained": False,  # the same cost; no download
            "run_lr_finder": False,
            "seed": 0,
            "precision": resolve_precision("auto", on_gpu),
            "channels_last": on_gpu,
            "decode_cache": True,
            "compile": args.compile_backend != "none",
        }
    )


@contextmanager
def compile_backend(name: str):
    """torch.compile with dynamo's `name` backend, whoever calls it (nn.Module.compile for
    fastai, Keras's trainer on torch): the job's own calls stay as they are."""
    import torch

    if name in ("inductor", "none"):
        yield
        return
    original = torch.compile
    torch.compile = functools.partial(original, backend=name)
    try:
        yield
    finally:
        torch.compile = original


@contextmanager
def fastai_ranges():
    """Name the batch augmentation and the optimizer step inside the job's own objects."""
    from fastai.callback.schedule import ParamScheduler
    from fastai.optimizer import Optimizer

    from workers.training import fastai_parts as parts

    undo = [
        ranged_method(Optimizer, "step", OPTIMIZER),
        ranged_method(ParamScheduler, "before_batch", CPU_SCHEDULE),
    ]
    try:
        from workers.training.fastai_optim import FusedAdamW

        undo.append(ranged_method(FusedAdamW, "step", OPTIMIZER))
    except ImportError:  # before the fused optimizer existed
        pass
    build = parts.build_dataloaders

    def build_dataloaders(*a, **k):
        dls = build(*a, **k)
        dls.train.after_batch = Ranged(dls.train.after_batch, AUGMENT)
        return dls

    parts.build_dataloaders = build_dataloaders
    try:
        yield
    finally:
        parts.build_dataloaders = build
        for restore in undo:
            restore()


@contextmanager
def keras_hooks_on_the_step_thread():
    """Keras calls an `async_safe` callback's batch hooks from a helper thread (on torch too),
    and torch.profiler records only the thread that started it: started there, it saw none of
    the training step's operators (kernels_per_step was 0). Synchronous hooks start and stop
    it on the thread that runs the step; the hooks themselves launch no operators."""
    from workers.training import keras_parts as kp

    was = kp.ReportMetrics.async_safe
    kp.ReportMetrics.async_safe = False
    try:
        yield
    finally:
        kp.ReportMetrics.async_safe = was


def keras_augment_kernels(args) -> int | None:
    """The Keras augmentation layers the job builds, called on one batch (after a warm-up)."""
    import numpy as np
    import torch

    from workers.training import keras_parts as kp

    if not hasattr(kp, "augmentation_layers"):
        return None
    layers = kp.augmentation_layers(0)
    batch = np.random.default_rng(0).uniform(0, 255, (args.batch, args.size, args.size, 3))
    batch = torch.as_tensor(batch, dtype=torch.float32)

    def run():
        x = batch
        for layer in layers:
            x = layer(x, training=True)
        return x

    run()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run()
    return len(kernels(list(prof.events()), on_gpu=False))


def profile(args) -> dict:
    import torch
    import torch._inductor.config
    from torch._dynamo.utils import counters

    from workers.training.base import get_backend
    from workers.training.reporting import Cancelled

    on_gpu = torch.cuda.is_available()
    torch._inductor.config.cpp.enable_kernel_profile = True  # fused CPU kernels get events
    spec = job_spec(args, on_gpu)
    reporter = make_reporter(args.steps, on_gpu)
    backend = get_backend(args.library)
    with tempfile.TemporaryDirectory(prefix="step-profile-") as tmp:
        counts = {"train": args.batch * args.steps, "valid": args.batch, "test": 1}
        data = write_images(Path(tmp), args.size, counts)
        ranges = fastai_ranges() if args.library == "fastai" else keras_hooks_on_the_step_thread()
        with ranges, compile_backend(args.compile_backend):
            try:
                backend.train(spec, data, reporter, Path(tmp) / "work")
            except Cancelled:
                pass
    if reporter.result is None:
        raise SystemExit("step_profile: the job ended before the measured step")
    result = dict(reporter.result)
    if args.library == "keras":
        result["augment_kernels_per_batch"] = keras_augment_kernels(args)
    compiled = spec.compile
    graphs = counters["stats"]["unique_graphs"]
    warm = reporter.graphs_after_warmup or 0
    return {
        "library": args.library,
        "keras_backend": args.keras_backend if args.library == "keras" else None,
        "arch": args.arch,
        "size": args.size,
        "batch": args.batch,
        "device": torch.cuda.get_device_name(0) if on_gpu else "cpu",
        "precision": spec.precision,
        "compile_backend": args.compile_backend if compiled else None,
        **result,
        "graphs": graphs if compiled else None,
        "graph_breaks": sum(counters["graph_break"].values()) if compiled else None,
        "recompiles": graphs - warm if compiled else None,
    }


if __name__ == "__main__":
    sys.exit(main())
