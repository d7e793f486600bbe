"""Which device and Keras backend a job gets, decided in the job's own process.

TensorFlow and torch must never share a process, so a library that will not train the job is
asked about its GPU in a short subprocess instead of being imported here.
"""

from __future__ import annotations

import importlib.util
import logging
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
