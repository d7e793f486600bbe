"""Which device and Keras backend a job gets, decided in the job's own process.

TensorFlow and torch must never share a process, so a library that will not train the job is
asked about its GPU in a short subprocess instead of being imported here.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

logger = logging.getLogger("workers.job")

PROBES = {
    "tensorflow": "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))",
    "torch": "import torch; print(torch.cuda.device_count())",
}
PROBE_TIMEOUT = 120


class DeviceError(Exception):
    """The device a job needs could not be found or set up; the message says what to do."""


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def host_has_gpu() -> bool:
    """An NVIDIA device is visible to this process (driver nodes, or a CUDA_VISIBLE_DEVICES
    that is not empty or "-1" with nvidia-smi present)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None


def library_sees_gpu(library: str) -> bool:
    """Ask `library` (tensorflow or torch) in a subprocess whether it sees a GPU."""
    if not installed(library) or not host_has_gpu():
        return False
    try:
        out = subprocess.run(
            [sys.executable, "-c", PROBES[library]],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("could not ask %s about GPUs: %s", library, exc)
        return False
    if out.returncode != 0:
        logger.warning("%s failed to look for GPUs:\n%s", library, out.stderr[-2000:])
        return False
    lines = out.stdout.strip().splitlines()
    return bool(lines) and lines[-1].strip().isdigit() and int(lines[-1]) > 0


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    reason: str


def resolve_keras_backend(requested: str, sees_gpu=library_sees_gpu) -> BackendChoice:
    """`auto`: TensorFlow if installed and it sees a GPU, else torch if torch sees one, else
    TensorFlow on the CPU (torch when TensorFlow is not installed)."""
    if requested in ("tensorflow", "torch"):
        if not installed(requested):
            other = "torch" if requested == "tensorflow" else "tensorflow"
            raise DeviceError(
                f"The job asks for Keras on {requested}, which is not installed on this worker. "
                f"Choose the Keras backend 'auto' (or '{other}'), or install {requested} here."
            )
        return BackendChoice(requested, "chosen in the job settings")
    has_tf, has_torch = installed("tensorflow"), installed("torch")
    if not has_tf and not has_torch:
        raise DeviceError(
            "Neither TensorFlow nor torch is installed on this worker, so Keras cannot run. "
            "Install requirements.txt (or requirements-gpu.txt on a GPU host)."
        )
    if has_tf and sees_gpu("tensorflow"):
        return BackendChoice("tensorflow", "auto: TensorFlow sees a GPU")
    if has_torch and sees_gpu("torch"):
        reason = "auto: torch sees a GPU" + (
            "; TensorFlow does not (install requirements-gpu.txt for its CUDA libraries)"
            if has_tf
            else "; TensorFlow is not installed"
        )
        return BackendChoice("torch", reason)
    if has_tf:
        return BackendChoice("tensorflow", "auto: no GPU, TensorFlow on the CPU")
    return BackendChoice("torch", "auto: no GPU and no TensorFlow, torch on the CPU")


def resolve_precision(precision: str, on_gpu: bool) -> str:
    if precision == "auto":
        return "bf16-mixed" if on_gpu else "fp32"
    return precision


def cpu_fallback_warning(device: str) -> str:
    """A line for the job log when a GPU host trains on the CPU."""
    if device == "cpu" and host_has_gpu():
        return (
            "WARNING: this host has an NVIDIA GPU but the job trains on the CPU: the library "
            "found no usable CUDA (for TensorFlow install requirements-gpu.txt; for torch a "
            "CUDA build of torch)."
        )
    return ""


# --------------------------------------------------------------------------- jobs per GPU
ASSUMED_JOB_MEMORY_MB = int(os.environ.get("GPU_JOB_MEMORY_MB", "12000"))
CORES_PER_JOB = 2  # a fastai job's loop plus its loader; one core starves the GPU
MEMORY_HEADROOM = 1.25  # over a measured peak: allocator fragmentation, cuDNN workspaces
USABLE_FREE = 0.95  # of the free memory: the CUDA contexts themselves take some
MAX_JOBS_PER_GPU = 16
THESIS_ARCHITECTURES = ("vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169")


@dataclass(frozen=True)
class JobSlots:
    """How many jobs one GPU worker runs at once, each child's memory cap (a fraction of the
    GPU's total, for torch.cuda.set_per_process_memory_fraction; None without a GPU) and the
    figures behind them (the Workers page explains them: WorkerHeartbeat.job_slots_reason)."""

    jobs: int
    memory_fraction: float | None
    basis: dict


def plan_job_slots(
    free_mb: int | None,
    total_mb: int | None,
    cores: int,
    peaks_mb: dict[str, float],
    setting: str = "auto",
    architectures=THESIS_ARCHITECTURES,
) -> JobSlots:
    """From free GPU memory, cores and measured peaks ({"vgg19@256": MiB}, the largest
    `torch.cuda.max_memory_allocated` of earlier jobs per architecture and size): the jobs
    that fit both the memory (largest peak + headroom each; an architecture not measured yet
    counts at ASSUMED_JOB_MEMORY_MB) and the cores (CORES_PER_JOB each). A number in
    `setting` (GPU_JOBS_PER_WORKER) wins; memory is then shared equally."""
    basis: dict = {"cores": cores, "cores_per_job": CORES_PER_JOB, "free_mb": free_mb}
    setting = str(setting or "auto").strip()
    fixed = int(setting) if setting.isdigit() and int(setting) > 0 else None
    if not free_mb or not total_mb:
        jobs = fixed or 1
        return JobSlots(min(jobs, 64), None, {**basis, "rule": "setting" if fixed else "no-gpu"})
    measured = {key: mb for key, mb in peaks_mb.items() if mb}
    covered = {key.split("@")[0] for key in measured}
    missing = [a for a in architectures if a not in covered]
    largest = max(measured, key=measured.get) if measured else ""
    job_mb = max(measured[largest] * MEMORY_HEADROOM if largest else 0, 0)
    if missing or not measured:
        job_mb = max(job_mb, ASSUMED_JOB_MEMORY_MB)
    job_mb = int(math.ceil(job_mb))
    by_memory = int(free_mb * USABLE_FREE // job_mb)
    by_cores = cores // CORES_PER_JOB
    if fixed:
        jobs, rule = min(fixed, 64), "setting"
    else:
        jobs = max(1, min(by_memory, by_cores, MAX_JOBS_PER_GPU))
        rule = (
            "cap"
            if jobs == MAX_JOBS_PER_GPU < min(by_memory, by_cores)
            else ("memory" if by_memory <= by_cores else "cores")
        )
        rule = rule if min(by_memory, by_cores) >= 1 else "minimum"
    fraction = round(min(USABLE_FREE, free_mb * USABLE_FREE / jobs / total_mb), 3)
    basis.update(
        rule=rule,
        job_mb=job_mb,
        largest_peak=largest,
        largest_peak_mb=round(measured[largest]) if largest else None,
        not_measured=missing,
        by_memory=by_memory,
        by_cores=by_cores,
        max_jobs=MAX_JOBS_PER_GPU,
        memory_fraction=fraction,
    )
    return JobSlots(jobs, fraction, basis)


def cap_gpu_memory(fraction: str | None = None) -> float | None:
    """In a job's child (torch on CUDA): hold it to its share of the GPU's memory
    (TRAINING_JOB_GPU_FRACTION, set by the worker), so one job cannot starve the others.
    Returns the fraction applied."""
    fraction = fraction or os.environ.get("TRAINING_JOB_GPU_FRACTION")
    if not fraction:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    value = min(max(float(fraction), 0.05), 1.0)
    torch.cuda.set_per_process_memory_fraction(value)
    return value


def torch_job_figures(compile_requested: bool) -> dict:
    """After training, for the manifest: the GPU memory peak (MiB, what plan_job_slots reads
    back) and whether torch.compile compiled anything (with suppress_errors a failed compile
    runs eager silently: frames compiled 0 means the steps were not compiled)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    figures: dict = {}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        figures["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    dynamo = sys.modules.get("torch._dynamo.utils")
    if compile_requested:  # torch._dynamo never imported: nothing was compiled
        frames = dynamo.counters["frames"] if dynamo is not None else {}
        figures["compiled_frames"] = int(frames.get("ok", 0))
        figures["compile_happened"] = figures["compiled_frames"] > 0
    return figures
