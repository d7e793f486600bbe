"""Where the files of datasets, jobs and uploads are kept: the storages named in settings.STORAGES.

- "datasets": every kept image of every dataset once, content-addressed (<sha256[:2]>/<sha256>).
  The database already records each image's sha256, so a worker knows what to fetch and can
  verify it; identical images (the same folder imported under two presets, a re-import) are
  stored once; and a worker's cache can be keyed by the same hash.
- "artifacts": jobs/<id>-<random>/ (model, log) and predict/<uuid>/ (tried images, heatmaps),
  keys equal to the paths the database records (relative to MEDIA_ROOT before S3 existed).
- "uploads": dataset zips between the upload and their import.

On S3 (S3_ENDPOINT_URL) they are prefixes of one bucket; otherwise folders under MEDIA_ROOT.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils.functional import cached_property

CHUNK = 1 << 20
UPLOAD_THREADS = 8  # small files: the store's latency, not its bandwidth, is the limit
_clients: dict[int, tuple] = {}


def store_outage_errors() -> tuple[type[BaseException], ...]:
    """What boto3 raises when the S3 server cannot be reached (refused, reset, timed out)."""
    try:
        from botocore.exceptions import ConnectionError as Unreachable
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - boto3 comes with the requirements
        return ()
    return (Unreachable, HTTPClientError)


def is_store_outage(exc: BaseException) -> bool:
    """True for an unreachable object store, or one answering with a server error (5xx: a
    server still starting or overloaded), not for a missing key or a refused request."""
    if isinstance(exc, store_outage_errors()):
        return True
    response = getattr(exc, "response", None)
    if type(exc).__name__ == "ClientError" and isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500
    return False


class MediaFolderStorage(FileSystemStorage):
    """A folder under MEDIA_ROOT, following MEDIA_ROOT when it changes (tests). Saving to an
    existing name replaces the file, as S3 does (never a renamed copy)."""

    def __init__(self, folder: str = "", **kwargs):
        self.folder = folder
        kwargs.setdefault("allow_overwrite", True)
        super().__init__(**kwargs)

    @cached_property
    def base_location(self):
        root = settings.MEDIA_ROOT
        return os.path.join(root, self.folder) if self.folder else root


def datasets() -> Storage:
    return storages["datasets"]


def artifacts() -> Storage:
    return storages["artifacts"]


def uploads() -> Storage:
    return storages["uploads"]


def is_local(storage: Storage) -> bool:
    """True when the storage is a folder of this host (storage.path() works)."""
    return isinstance(storage, FileSystemStorage)


def job_prefix(job) -> str:
    """The job's key prefix in the "artifacts" storage (its own `workdir`, or jobs/<id> for
    jobs from before that field)."""
    return job.workdir or f"jobs/{job.pk}"


def blob_key(sha256: str) -> str:
    """A dataset image's key in the "datasets" storage."""
    return f"{sha256[:2]}/{sha256}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_stored(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with storage.open(key, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _s3_object(storage: Storage, key: str) -> tuple | None:
    """(boto3 client, bucket, full key) of an S3 storage, else None. One request per file
    (a transfer manager's threads cost more than a dataset image's whole transfer)."""
    if not hasattr(storage, "bucket_name") or not hasattr(storage, "_normalize_name"):
        return None
    from storages.utils import clean_name

    full = storage._normalize_name(clean_name(key))
    # django-storages makes one boto3 session per thread (slow to create); a client is
    # thread-safe, so the fetch threads share the first one. The storage is kept with its
    # client, so its id is never reused by another storage.
    if id(storage) not in _clients:
        _clients[id(storage)] = (storage, storage.connection.meta.client)
    return _clients[id(storage)][1], storage.bucket_name, full


def _exists(storage: Storage, key: str) -> bool:
    s3 = _s3_object(storage, key)
    if s3 is None:
        return storage.exists(key)
    client, bucket, full = s3
    try:
        client.head_object(Bucket=bucket, Key=full)
        return True
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def put_file(storage: Storage, key: str, path: Path) -> str:
    """Store the local file `path` under exactly `key` (replacing what was there)."""
    s3 = _s3_object(storage, key)
    if s3 is not None:
        client, bucket, full = s3
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with open(path, "rb") as handle:
            client.put_object(Bucket=bucket, Key=full, Body=handle, ContentType=content_type)
        return key
    with open(path, "rb") as handle:
        saved = storage.save(key, File(handle, name=Path(key).name))
    if saved != key:  # pragma: no cover - a storage that renames instead of replacing
        raise RuntimeError(f"The storage stored {key!r} as {saved!r}.")
    return saved


def fetch_file(storage: Storage, key: str, target: Path, sha256: str = "") -> Path:
    """Copy `key` to the local file `target` (atomically; verified when `sha256` is given)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open_for_reading(storage, key) as source:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if sha256 and digest.hexdigest() != sha256:
            raise OSError(
                f"{key}: checksum mismatch (expected {sha256[:12]}…, got "
                f"{digest.hexdigest()[:12]}…); the stored copy is damaged."
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _open_for_reading(storage: Storage, key: str):
    """A readable stream of `key`; FileNotFoundError when there is none."""
    s3 = _s3_object(storage, key)
    if s3 is None:
        return storage.open(key, "rb")
    client, bucket, full = s3
    try:
        return closing(client.get_object(Bucket=bucket, Key=full)["Body"])
    except client.exceptions.NoSuchKey as exc:
        raise FileNotFoundError(key) from exc


def upload_dataset_images(
    root: Path,
    images: Iterable[tuple[str, str]],
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Store each (relative path, sha256) of a dataset folder once in the "datasets" storage;
    images already there (same hash, same key) are not sent again."""
    storage = datasets()
    unique = {}
    for path, sha in images:
        unique.setdefault(sha, path)

    def store(item: tuple[str, str]) -> int:
        """Bytes sent (0 when the image was already stored)."""
        sha, path = item
        key = blob_key(sha)
        if _exists(storage, key):
            return 0
        put_file(storage, key, Path(root) / path)
        return (Path(root) / path).stat().st_size or 1

    sent = present = size = 0
    threads = 1 if is_local(storage) else UPLOAD_THREADS
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for index, sent_bytes in enumerate(pool.map(store, sorted(unique.items()))):
            sent, present, size = (
                sent + bool(sent_bytes),
                present + (not sent_bytes),
                size + sent_bytes,
            )
            if progress:
                progress(index + 1, len(unique))
    return {"uploaded": sent, "already_stored": present, "bytes": size}


# ------------------------------------------------------------------ downloads (web tier)


def presigned_url(storage: Storage, key: str, filename: str = "", expires: int = 600) -> str:
    """A time-limited GET URL on S3_PUBLIC_ENDPOINT_URL (signed for that host)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=settings.S3_PUBLIC_ENDPOINT_URL,
        aws_access_key_id=storage.access_key or None,
        aws_secret_access_key=storage.secret_key or None,
        region_name=storage.region_name,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": storage.bucket_name, "Key": storage._normalize_name(key)}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    return client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def download_response(
    storage: Storage,
    key: str,
    filename: str = "",
    content_type: str | None = None,
    missing: str = "",
    redirect: bool = True,
):
    """Stream `key` from the storage, or (`redirect`, for downloads) send the browser to a
    presigned URL when a public S3 endpoint is configured. Images shown in pages are always
    streamed: the Content-Security-Policy allows images from this site only. Http404 (with
    `missing` as its message) when there is no such file."""
    if not key or not storage.exists(key):
        raise Http404(missing)
    if redirect and settings.S3_PUBLIC_ENDPOINT_URL and not is_local(storage):
        return HttpResponseRedirect(presigned_url(storage, key, filename))
    kwargs = {"as_attachment": bool(filename), "filename": filename or Path(key).name}
    if content_type:
        kwargs["content_type"] = content_type
    return FileResponse(storage.open(key, "rb"), **kwargs)


def copy_tree_to(storage: Storage, folder: Path, prefix: str, skip: Iterable[str] = ()) -> int:
    """Store every file under `folder` at prefix/<relative path>. Returns the count."""
    skipped = set(skip)
    count = 0
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name not in skipped:
            put_file(storage, f"{prefix}/{path.relative_to(folder).as_posix()}", path)
            count += 1
    return count


def remove_local_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
