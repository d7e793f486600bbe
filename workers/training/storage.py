"""Where a job's files go, and whether there is room for them.

Each job gets its own fresh folder (never an existing one: a database reset or a shared media
folder must not mix two jobs' logs or models). Free space is checked before a job starts and
before each save; a failed save leaves no partial file behind.

With the filesystem storages (no S3_ENDPOINT_URL) that folder is the job's folder under
MEDIA_ROOT, as always. With S3 the job works in a scratch folder of this worker
(WORKER_CACHE_DIR/scratch/) and its files are stored under the job's prefix (`job.workdir`) of the
"artifacts" storage: the model before the job is recorded as succeeded, the log once the job's
process has ended. This module and workers.training.dataset_cache are the only worker code that
knows where files live.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from experiments import storage as stores
from experiments.storage import job_prefix

PROGRESS_FILE = ".progress"
LOG_FILE = "job.log"
NEARLY_FULL_BYTES = 1 << 20  # a failed save with less than this left: the disk was full

logger = logging.getLogger(__name__)


class StorageError(Exception):
    """Not enough room (or no folder) for a job's files; the message says what to do."""


def artifacts_local() -> bool:
    return stores.is_local(stores.artifacts())


def scratch_root() -> Path:
    """Where this worker's jobs write before their files are stored (S3 only)."""
    return Path(settings.WORKER_CACHE_DIR) / "scratch"


def job_folder(job) -> Path:
    """The job's local working folder on this worker."""
    if artifacts_local():
        return Path(stores.artifacts().path(job_prefix(job)))
    return scratch_root() / job_prefix(job)


def new_job_folder(job) -> Path:
    """Create and record a folder that did not exist before, for this job only."""
    from experiments.models import TrainingJob

    base = _local_base() / "jobs"
    try:
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            name = f"{job.pk}-{secrets.token_hex(4)}"
            folder = base / name
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 10 random collisions
            raise StorageError("Could not create a fresh folder for the job.")
    except OSError as exc:
        raise StorageError(f"Cannot create the job's folder under {base}: {exc}") from exc
    job.workdir = f"jobs/{name}"
    TrainingJob.objects.filter(pk=job.pk).update(workdir=job.workdir)
    return folder


def _local_base() -> Path:
    return Path(stores.artifacts().path("")) if artifacts_local() else scratch_root()


def artifact_key(job, path: Path) -> str:
    """The storage key of a file in the job's local folder."""
    return f"{job_prefix(job)}/{Path(path).relative_to(job_folder(job)).as_posix()}"


def store_outputs(job, skip: tuple[str, ...] = (PROGRESS_FILE, LOG_FILE)) -> None:
    """Store the job's files (model, ...) under its prefix; nothing to do on a local disk."""
    if not artifacts_local():
        stores.copy_tree_to(stores.artifacts(), job_folder(job), job_prefix(job), skip=skip)


def store_log_and_clean(job) -> None:
    """After the job's process: store its log too, then drop the scratch folder (S3 only).
    A store outage is waited out (JOB_STORE_OUTAGE_SECONDS); past that it is logged and
    the files stay in the scratch folder."""
    if artifacts_local():
        return
    from workers.dbretry import with_store_retry

    folder = job_folder(job)
    try:
        with_store_retry(
            lambda: stores.copy_tree_to(
                stores.artifacts(), folder, job_prefix(job), skip=(PROGRESS_FILE,)
            ),
            "storing the job's log",
        )
    except Exception:
        logger.exception("job %s: could not store its files; they stay in %s", job.pk, folder)
        return
    stores.remove_local_tree(folder)


def compile_cache_dir() -> Path:
    """Compiled graphs (torch inductor, XLA), reused by this worker's next jobs."""
    return Path(settings.WORKER_CACHE_DIR) / "compiled"


def predict_log(kind: str) -> Path:
    return Path(settings.WORKER_CACHE_DIR) / "predict" / f"{kind.replace(':', '-')}.log"


def child_env() -> dict[str, str]:
    """What a job's or prediction's child needs to find the same files as this process."""
    return {
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "WORKER_CACHE_DIR": str(settings.WORKER_CACHE_DIR),
    }


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
    except BaseException as exc:
        # Libraries often hide ENOSPC (torch: "unexpected pos ..."): look at the disk itself
        # before the partial file is removed.
        full = _free_bytes(target.parent) < NEARLY_FULL_BYTES
        tmp.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        if full and isinstance(exc, Exception) and not is_disk_full(exc):
            raise StorageError(
                f"Disk full while saving {target.name} ({exc.__class__.__name__}: {exc})"
            ) from exc
        raise
    return target


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return NEARLY_FULL_BYTES


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


def lower_priority() -> Callable[[], None]:
    """A preexec_fn for the job's child: its CPU priority lowered by JOB_NICE, so the web on
    the same host stays responsive. The setting is read here, before the fork; the function
    itself only makes the system call (safe in a threaded parent)."""
    nice = int(settings.JOB_NICE)

    def apply() -> None:
        if nice > 0:
            try:
                os.nice(nice)
            except OSError:
                pass

    return apply


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
