"""Where a job's files go, and whether there is room for them.

Each job gets its own fresh folder (never an existing one: a database reset or a shared media
folder must not mix two jobs' logs or models). Free space is checked before a job starts and
before each save; a failed save leaves no partial file behind.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

PROGRESS_FILE = ".progress"


class StorageError(Exception):
    """Not enough room (or no folder) for a job's files; the message says what to do."""


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def job_folder(job) -> Path:
    """The job's folder: its own (`workdir`), or jobs/<id> for jobs from before that field."""
    return media_root() / (job.workdir or f"jobs/{job.pk}")


def new_job_folder(job) -> Path:
    """Create and record a folder that did not exist before, for this job only."""
    from experiments.models import TrainingJob

    base = media_root() / "jobs"
    try:
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            folder = base / f"{job.pk}-{secrets.token_hex(4)}"
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 10 random collisions
            raise StorageError("Could not create a fresh folder for the job.")
    except OSError as exc:
        raise StorageError(f"Cannot create the job's folder under {base}: {exc}") from exc
    job.workdir = str(folder.relative_to(media_root()))
    TrainingJob.objects.filter(pk=job.pk).update(workdir=job.workdir)
    return folder


def free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**20


def check_free_space(path: Path, doing: str, need_mb: float | None = None) -> None:
    """Raise StorageError when the disk holding `path` has less than JOB_MIN_FREE_MB free."""
    need_mb = settings.JOB_MIN_FREE_MB if need_mb is None else need_mb
    free = free_mb(path)
    if free < need_mb:
        raise StorageError(
            f"Disk full: only {free:.0f} MB free on the media disk while {doing} "
            f"(at least {need_mb:.0f} MB needed). Free space or move MEDIA_ROOT, then clone "
            "the job."
        )


def atomic_save(target: Path, write: Callable[[Path], None]) -> Path:
    """write(tmp) to a temporary name beside `target`, then rename it into place.

    A failure (disk full included) removes the partial file and re-raises, so no later job
    or download ever sees half a model.
    """
    target = Path(target)
    check_free_space(target.parent, f"saving {target.name}")
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    return target


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT anywhere in the exception chain (libraries wrap the OSError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StorageError) and str(exc).startswith("Disk full"):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "No space left on device" in text or "ENOSPC" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def lower_priority() -> None:
    """In the job's child before exec: a nicer CPU priority so the web stays responsive."""
    nice = int(settings.JOB_NICE)
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:
            pass


def thread_env() -> dict[str, str]:
    """Thread caps for the job's numeric libraries (JOB_THREADS; 0 = library defaults)."""
    threads = int(settings.JOB_THREADS)
    if threads <= 0:
        return {}
    value = str(threads)
    return {
        name: value
        for name in (
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        )
    }
