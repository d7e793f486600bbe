"""One place decides what a failure inside a job means: a one-line reason and the detail.

Every exception that ends a job passes through `describe()`. A reason is what the run page
shows everyone: what happened and what to change. The detail (a traceback) is for researchers.
Add a case by registering a classifier with `@classifier`; the first that answers wins.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass


class JobFailure(Exception):
    """Raised by job code that already knows the one-line reason to show."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Failure:
    reason: str
    detail: str = ""


Classifier = Callable[[BaseException], "str | None"]
_CLASSIFIERS: list[Classifier] = []


def classifier(func: Classifier) -> Classifier:
    """Register a function that returns a reason for exceptions it recognises, else None."""
    _CLASSIFIERS.append(func)
    return func


@classifier
def _job_failure(exc: BaseException) -> str | None:
    return exc.reason if isinstance(exc, JobFailure) else None


@classifier
def _host_memory(exc: BaseException) -> str | None:
    if isinstance(exc, MemoryError):
        return "Out of memory. Try a smaller batch size or image size."
    return None


@classifier
def _disk_full(exc: BaseException) -> str | None:
    from .storage import is_disk_full

    if is_disk_full(exc):
        return (
            "Disk full while writing the job's files; the partial files were removed. Free "
            "space on the media disk (or move MEDIA_ROOT), then clone the job."
        )
    return None


def describe(exc: BaseException) -> Failure:
    """The reason and detail for an exception that ended a job."""
    detail = exc.detail if isinstance(exc, JobFailure) and exc.detail else ""
    if not detail:
        detail = "".join(traceback.format_exception(exc, limit=8))
    for func in _CLASSIFIERS:
        reason = func(exc)
        if reason:
            return Failure(reason, detail)
    return Failure(f"{exc.__class__.__name__}: {exc}", detail)


def _names(exc: BaseException) -> set[str]:
    """Class names of exc's type and its bases: no need to import torch or TensorFlow here."""
    return {cls.__name__ for cls in type(exc).__mro__}


@classifier
def _missing_weights(exc: BaseException) -> str | None:
    return str(exc) if "WeightsUnavailable" in _names(exc) else None


@classifier
def _device(exc: BaseException) -> str | None:
    return str(exc) if "DeviceError" in _names(exc) else None


@classifier
def _imports(exc: BaseException) -> str | None:
    if not isinstance(exc, ImportError):
        return None
    module = getattr(exc, "name", None) or "a module"
    return (
        f"The job could not import {module} on this worker ({exc}). Install the project's "
        "requirements in the worker's environment (requirements.txt; requirements-gpu.txt on "
        "a GPU host), or for Keras choose the backend 'auto' or the other library."
    )


@classifier
def _gpu_memory(exc: BaseException) -> str | None:
    names = _names(exc)
    cuda_oom = "OutOfMemoryError" in names or "CUDA out of memory" in str(exc)
    if cuda_oom or "ResourceExhaustedError" in names:
        return (
            "The GPU ran out of memory. Lower the batch size or image size, turn on bf16-mixed "
            "precision, or run fewer jobs at once on this GPU (GPU_JOBS_PER_WORKER)."
        )
    return None


@classifier
def _image_read(exc: BaseException) -> str | None:
    if "UnidentifiedImageError" in _names(exc):
        return (
            f"An image of the dataset could not be read ({exc}). Re-import the dataset: the "
            "import skips unreadable files."
        )
    return None


@classifier
def _services(exc: BaseException) -> str | None:
    """The database or the S3 store stayed down past the worker's patience."""
    if {"DatabaseUnavailable", "StoreUnavailable"} & _names(exc):
        return (
            f"{str(exc)[:1].upper()}{str(exc)[1:]}. The job waited for it (see "
            "JOB_DB_OUTAGE_SECONDS and JOB_STORE_OUTAGE_SECONDS); clone the job once the "
            "service is back."
        )
    return None
