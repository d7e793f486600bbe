"""Disk full, on a real small tmpfs: no partial model file, a clear reason, no start without
room, and each job in its own fresh folder."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from experiments.jobs.actions import create_job
from tests.workers.tiny import TINY_JOB
from workers.supervisor import supervise
from workers.training.failures import describe
from workers.training.storage import StorageError, atomic_save, is_disk_full

pytestmark = [pytest.mark.slow]
SMALL = {**TINY_JOB, "library": "fastai", "max_batches": 1}


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (mounting needs root, which the development machines and CI have)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; run the suite as root to test a full disk")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kb: int) -> None:
    """Fill the disk until only about leave_kb KB are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_kb * 1024))


def test_a_failed_save_leaves_no_partial_file(small_disk, settings):
    settings.JOB_MIN_FREE_MB = 0
    _fill(small_disk, 64)
    target = small_disk / "model.pkl"

    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.write(b"x" * 1024 * 1024)  # 1 MB into 64 KB

    with pytest.raises(OSError) as raised:
        atomic_save(target, write)
    assert raised.value.errno == errno.ENOSPC and is_disk_full(raised.value)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
    assert describe(raised.value).reason.startswith("Disk full")
    # Checked before writing too: below JOB_MIN_FREE_MB nothing is attempted.
    settings.JOB_MIN_FREE_MB = 10
    with pytest.raises(StorageError, match="Disk full"):
        atomic_save(target, write)


def test_no_job_starts_without_room(worker_env, tiny_dataset, small_disk, settings):
    settings.MEDIA_ROOT = small_disk
    settings.JOB_MIN_FREE_MB = 100  # more than the whole disk
    job = create_job({**SMALL, "dataset": tiny_dataset})
    assert supervise(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("Disk full") and job.process_id is None


def test_a_job_that_fills_the_disk_fails_with_that_reason(
    worker_env, tiny_dataset, small_disk, settings, monkeypatch
):
    settings.MEDIA_ROOT = small_disk
    settings.JOB_MIN_FREE_MB = 0.01
    monkeypatch.setenv("JOB_MIN_FREE_MB", "0.01")  # the job's child reads it too
    first = create_job({**SMALL, "dataset": tiny_dataset})
    assert supervise(first.pk) == "succeeded"
    first.refresh_from_db()
    model = small_disk / first.evaluation["model_file"]
    size_kb = model.stat().st_size // 1024
    # Room for the log, not for another model: the save must fail cleanly.
    _fill(small_disk, max(16, size_kb // 3))
    second = create_job({**SMALL, "dataset": tiny_dataset})
    assert supervise(second.pk) == "failed"
    second.refresh_from_db()
    assert second.error.startswith("Disk full"), second.error
    folder = small_disk / second.workdir
    assert folder != small_disk / first.workdir  # its own fresh folder
    leftovers = [p.name for p in folder.iterdir() if p.suffix in (".pkl", ".keras", ".partial")]
    assert leftovers == [] and not any("partial" in p.name for p in folder.iterdir())
    assert model.is_file()  # the first job's model is untouched
