"""Moving an installation's files from its folders into the configured storages.

Dataset images go from their import folders to the "datasets" storage (by content hash), job
and prediction files from MEDIA_ROOT/jobs and MEDIA_ROOT/predict to the "artifacts" storage
(same relative keys). Every copy is read back and compared by SHA-256. A file already stored
with the same checksum is skipped, so an interrupted run is simply started again. Sources are
never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import Storage

from experiments import storage as stores
from experiments.models import DatasetImage

ARTIFACT_FOLDERS = ("jobs", "predict")


@dataclass
class MigrationReport:
    copied: int = 0
    skipped: int = 0  # already stored with the same checksum
    replaced: int = 0  # stored with another checksum: copied again
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _move(storage, key, source: Path, expected: str, report, dry_run: bool) -> None:
    if not source.is_file():
        report.missing.append(str(source))
        return
    if stores.is_local(storage) and Path(storage.path(key)).resolve() == source.resolve():
        report.skipped += 1  # the storage's own file: already in place
        return
    replacing = False
    if storage.exists(key):
        if stores.sha256_stored(storage, key) == expected:
            report.skipped += 1
            return
        replacing = True
    if dry_run:
        report.copied += 1
        return
    if stores.sha256_file(source) != expected:
        report.failed.append(f"{source}: changed since it was recorded (checksum differs)")
        return
    stores.put_file(storage, key, source)
    if stores.sha256_stored(storage, key) != expected:
        report.failed.append(f"{source} -> {key}: the stored copy's checksum differs")
        return
    report.replaced += replacing
    report.copied += not replacing
    report.bytes += source.stat().st_size


def migrate(
    media_root: Path,
    dry_run: bool = False,
    datasets: Storage | None = None,
    artifacts: Storage | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> MigrationReport:
    """Copy what is not yet stored (see the module's docstring); returns the counts."""
    report = MigrationReport()
    datasets = datasets or stores.datasets()
    artifacts = artifacts or stores.artifacts()
    rows = (
        DatasetImage.objects.exclude(split=DatasetImage.EXCLUDED)
        .order_by("sha256", "pk")
        .values_list("sha256", "dataset__root", "path")
    )
    seen: set[str] = set()
    for sha, root, path in rows.iterator():
        if sha in seen:
            continue
        seen.add(sha)
        _move(datasets, stores.blob_key(sha), Path(root) / path, sha, report, dry_run)
    say(f"dataset images: {len(seen)} checked")
    media_root = Path(media_root)
    count = 0
    for folder in ARTIFACT_FOLDERS:
        for source in sorted((media_root / folder).rglob("*")):
            if source.is_symlink() or not source.is_file() or source.name.startswith("."):
                continue  # links, .progress and partial saves are not results
            key = source.relative_to(media_root).as_posix()
            _move(artifacts, key, source, stores.sha256_file(source), report, dry_run)
            count += 1
    say(f"job and prediction files: {count} checked")
    return report
