"""A worker's local copy of the dataset images it trains on, fetched from the "datasets" storage.

Images are kept by content hash (WORKER_CACHE_DIR/blobs/<sha[:2]>/<sha>), so a second job on
the same dataset (or on another dataset sharing images) fetches nothing. Each use touches the
file; when the cache holds more than WORKER_CACHE_MAX_MB the least recently used images go
first, never those of the job being prepared. A job sees its dataset as a folder of hard links
(the original relative paths, so predictions and reports name images as before): an eviction
by another job cannot take an image away from a running one.

With the filesystem storages the images are linked from the storage's own folder instead, and
datasets imported before the storage existed are still read from their import folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from experiments import storage as stores

from .failures import JobFailure

logger = logging.getLogger(__name__)
FETCH_THREADS = 8


@dataclass
class CacheStats:
    hits: int = 0
    fetched: int = 0
    fetched_bytes: int = 0
    evicted: int = 0
    evicted_names: list[str] = field(default_factory=list)


class DatasetCache:
    """Content-addressed image files in `folder`, at most `max_bytes` once a job has what
    it needs (a single dataset larger than that is kept whole while its job runs)."""

    def __init__(self, folder: Path | None = None, max_bytes: int | None = None):
        self.folder = Path(folder or Path(settings.WORKER_CACHE_DIR) / "blobs")
        if max_bytes is None:
            max_bytes = int(float(settings.WORKER_CACHE_MAX_MB) * 2**20)
        self.max_bytes = max_bytes
        self.stats = CacheStats()

    def blob(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256

    def fetch(self, hashes: set[str], threads: int = FETCH_THREADS) -> dict[str, Path]:
        """Local files for `hashes`, fetched when missing (verified), then evict."""
        storage = stores.datasets()
        wanted = sorted(hashes)

        def get(sha: str) -> Path:
            path = self.blob(sha)
            if path.is_file():
                os.utime(path)  # most recently used
                self.stats.hits += 1
                return path
            try:
                stores.fetch_file(storage, stores.blob_key(sha), path, sha256=sha)
            except FileNotFoundError as exc:
                raise JobFailure(
                    f"Image {sha} is not in the datasets storage. Run `manage.py "
                    "migrate_storage` where the dataset was imported, or import it again."
                ) from exc
            self.stats.fetched += 1
            self.stats.fetched_bytes += path.stat().st_size
            return path

        with ThreadPoolExecutor(max_workers=threads) as pool:
            paths = dict(zip(wanted, pool.map(get, wanted), strict=True))
        self.evict(keep=set(wanted))
        return paths

    def evict(self, keep: set[str] = frozenset()) -> int:
        """Remove least recently used images until the cache fits; returns how many went."""
        files = []
        for path in self.folder.glob("??/*"):
            if path.name.startswith("."):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # another job evicted it just now
                continue
            files.append((info.st_mtime, path, info.st_size))
        total = sum(size for _, _, size in files)
        removed = 0
        for _, path, size in sorted(files):
            if total <= self.max_bytes:
                break
            if path.name in keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
            self.stats.evicted_names.append(path.name)
        self.stats.evicted += removed
        return removed


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:  # another file system (or no hard links): a symbolic link will do
        target.symlink_to(Path(source).resolve())


def dataset_folder(dataset, folder: Path, cache: DatasetCache | None = None) -> Path:
    """A local folder holding the dataset's kept images under their recorded relative paths
    (links to the cache, or to the local storage). Returns `folder` (replaced if present)."""
    rows = list(
        dataset.images.exclude(split="excluded").values_list("path", "sha256").order_by("path")
    )
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    storage = stores.datasets()
    if stores.is_local(storage):
        for path, sha in rows:
            source = Path(storage.path(stores.blob_key(sha)))
            if not source.is_file():  # imported before the storage: its folder, if still here
                source = Path(dataset.root) / path
            if not source.is_file():
                raise JobFailure(
                    f"Image {path} of dataset {dataset.name!r} is neither in the datasets "
                    "storage nor in its import folder. Import the dataset again."
                )
            _link(source, folder / path)
        return folder
    cache = cache or DatasetCache()
    blobs = cache.fetch({sha for _, sha in rows})
    for path, sha in rows:
        try:
            _link(blobs[sha], folder / path)
        except FileNotFoundError:  # evicted meanwhile by another job's fetch: fetch it again
            _link(cache.fetch({sha})[sha], folder / path)
    logger.info(
        "dataset %s: %d images from the worker cache, %d fetched (%.1f MB), %d evicted",
        dataset.name,
        cache.stats.hits,
        cache.stats.fetched,
        cache.stats.fetched_bytes / 2**20,
        cache.stats.evicted,
    )
    return folder


def job_dataset_folder(job) -> Path:
    """Where a job's view of its dataset is made (removed when the job ends)."""
    return Path(settings.WORKER_CACHE_DIR) / "views" / str(job.pk)


# ------------------------------------------------------------------ models (predict worker)


def local_model(model_key: str, sha256: str = "") -> Path:
    """A finished job's model file on this worker: the storage's own file on a local disk,
    else a copy in WORKER_CACHE_DIR/models/ keyed by its content hash (or its key)."""
    storage = stores.artifacts()
    if stores.is_local(storage):
        path = Path(storage.path(model_key))
        if not path.is_file():
            raise FileNotFoundError(model_key)
        return path
    import hashlib

    name = sha256 or hashlib.sha256(model_key.encode()).hexdigest()
    target = Path(settings.WORKER_CACHE_DIR) / "models" / f"{name}{Path(model_key).suffix}"
    if not target.is_file():
        stores.fetch_file(storage, model_key, target, sha256=sha256)
    os.utime(target)
    return target


def local_copy(key: str, folder: Path) -> Path:
    """An artifact (a tried image) as a local file: the storage's file on a local disk, else
    a copy in `folder`."""
    storage = stores.artifacts()
    if stores.is_local(storage):
        return Path(storage.path(key))
    return stores.fetch_file(storage, key, Path(folder) / Path(key).name)


def store_artifact(local: Path, key: str) -> str:
    return stores.put_file(stores.artifacts(), key, local)
