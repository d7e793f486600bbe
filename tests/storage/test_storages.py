"""The storages on a real S3 server (SeaweedFS): round trips, downloads, the worker cache and
`migrate_storage`."""

import io
import urllib.request
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from experiments import storage as stores
from tests.storage.conftest import s3_client, stored_keys
from workers.training.dataset_cache import DatasetCache
from workers.training.failures import JobFailure


@pytest.mark.parametrize(
    ("name", "prefix"), [("datasets", "datasets/"), ("artifacts", ""), ("uploads", "uploads/")]
)
def test_each_storage_round_trips_on_s3(s3, name, prefix):
    storage = getattr(stores, name)()
    assert not stores.is_local(storage)
    key = "a/b/file.bin"
    data = bytes(range(256)) * 100
    assert storage.save(key, ContentFile(data)) == key
    assert storage.save(key, ContentFile(data[::-1])) == key  # replaced, never renamed
    assert storage.exists(key) and storage.size(key) == len(data)
    with storage.open(key, "rb") as handle:
        assert handle.read() == data[::-1]
    assert stored_keys(s3) == [f"{prefix}{key}"]
    storage.delete(key)
    assert not storage.exists(key) and stored_keys(s3) == []


def test_downloads_stream_or_redirect_to_a_presigned_url(s3, settings):
    stores.artifacts().save("jobs/1-x/job.log", ContentFile(b"epoch 1\n"))
    response = stores.download_response(stores.artifacts(), "jobs/1-x/job.log", "run-1-job.log")
    assert b"".join(response.streaming_content) == b"epoch 1\n"
    assert "run-1-job.log" in response["Content-Disposition"]

    settings.S3_PUBLIC_ENDPOINT_URL = s3["S3_ENDPOINT_URL"]  # the browser's view of the store
    response = stores.download_response(stores.artifacts(), "jobs/1-x/job.log", "run-1-job.log")
    assert response.status_code == 302
    assert response["Location"].startswith(s3["S3_ENDPOINT_URL"])
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:
        assert fetched.read() == b"epoch 1\n"
    # Pictures shown in pages are streamed (the CSP allows this site's images only).
    inline = stores.download_response(stores.artifacts(), "jobs/1-x/job.log", redirect=False)
    assert inline.status_code == 200
    with pytest.raises(stores.Http404):
        stores.download_response(stores.artifacts(), "jobs/1-x/model.pkl", "m.pkl")


def _blobs(count: int, size: int = 1000) -> dict[str, bytes]:
    import hashlib

    out = {}
    for i in range(count):
        data = bytes([i]) * size
        out[hashlib.sha256(data).hexdigest()] = data
    return out


def test_worker_cache_reuses_verifies_and_evicts_oldest_first(s3, tmp_path):
    first, second = _blobs(3), {k: v for k, v in list(_blobs(6).items())[3:]}
    for sha, data in {**first, **second}.items():
        stores.datasets().save(stores.blob_key(sha), ContentFile(data))

    cache = DatasetCache(tmp_path / "cache", max_bytes=4000)  # room for 4 images of 1000 B
    paths = cache.fetch(set(first))
    assert {sha: p.read_bytes() for sha, p in paths.items()} == first
    assert (cache.stats.fetched, cache.stats.hits) == (3, 0)

    again = DatasetCache(tmp_path / "cache", max_bytes=4000)  # the next job on this worker
    again.fetch(set(first))
    assert (again.stats.fetched, again.stats.hits) == (0, 3)

    later = DatasetCache(tmp_path / "cache", max_bytes=4000)
    later.fetch(set(second))  # 6 images > 4: two of the first job's go, the oldest
    assert later.stats.evicted == 2 and set(later.stats.evicted_names) <= set(first)
    assert all(later.blob(sha).is_file() for sha in second)
    assert sum(1 for sha in first if later.blob(sha).is_file()) == 1

    # A damaged stored copy is refused, and a missing one says what to do.
    sha = next(iter(first))
    later.blob(sha).unlink(missing_ok=True)
    stores.datasets().save(stores.blob_key(sha), ContentFile(b"damaged"))
    with pytest.raises(OSError, match="checksum mismatch"):
        later.fetch({sha})
    stores.datasets().delete(stores.blob_key(sha))
    with pytest.raises(JobFailure, match="migrate_storage"):
        later.fetch({sha})


def _old_installation(media: Path, root: Path):
    """Files as an installation kept them before the storages: an imported folder, a job's
    folder and a tried image under MEDIA_ROOT."""
    from experiments.datasets.demo import write_digits
    from experiments.datasets.importer import ImportOptions, import_dataset

    write_digits(root, per_class=6, size=16, classes=2)
    dataset = import_dataset(root, "old", ImportOptions(test_fraction=0.25, seed=0)).dataset
    job = media / "jobs" / "7-abcd"
    job.mkdir(parents=True)
    (job / "model.pkl").write_bytes(b"model bytes" * 100)
    (job / "job.log").write_text("phase 1 epoch 1\n")
    (job / ".progress").write_text("")
    predict = media / "predict" / "0123"
    predict.mkdir(parents=True)
    (predict / "image.png").write_bytes(b"png")
    return dataset


def test_migrate_storage_copies_verifies_and_resumes(db, s3, settings, tmp_path, monkeypatch):
    media, root = tmp_path / "old-media", tmp_path / "data"
    media.mkdir()
    settings.DATA_ROOTS = [root]
    # Imported while the storages were folders under MEDIA_ROOT: nothing of it is on S3.
    s3_storages = settings.STORAGES
    from config.settings import storages_for

    settings.STORAGES = {**s3_storages, **storages_for("", "")}
    dataset = _old_installation(media, root)
    settings.STORAGES = s3_storages
    kept = set(dataset.images.exclude(split="excluded").values_list("sha256", flat=True))

    out = io.StringIO()
    call_command("migrate_storage", "--media-root", str(media), stdout=out)
    assert f"copied {len(kept) + 3}," in out.getvalue()
    keys = stored_keys(s3)
    assert {f"datasets/{stores.blob_key(sha)}" for sha in kept} <= set(keys)
    assert {"jobs/7-abcd/model.pkl", "jobs/7-abcd/job.log", "predict/0123/image.png"} <= set(keys)
    assert not any(".progress" in key for key in keys)

    # Run again: everything already there with the same checksum is skipped...
    out = io.StringIO()
    call_command("migrate_storage", "--media-root", str(media), stdout=out)
    assert "copied 0, replaced 0" in out.getvalue()
    assert f"skipped {len(kept) + 3}" in out.getvalue()
    # ...and a stored copy that differs (an interrupted upload) is copied again.
    s3_client(s3["S3_ENDPOINT_URL"]).put_object(
        Bucket=s3["S3_BUCKET"], Key="jobs/7-abcd/model.pkl", Body=b"half"
    )
    out = io.StringIO()
    call_command("migrate_storage", "--media-root", str(media), stdout=out)
    assert "copied 0, replaced 1" in out.getvalue()
    assert stores.artifacts().open("jobs/7-abcd/model.pkl").read() == b"model bytes" * 100


def test_migrate_storage_refuses_bad_input_clearly(db, s3, settings, tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("migrate_storage", "--media-root", str(tmp_path / "nowhere"))
    (tmp_path / "media" / "jobs" / "1-x").mkdir(parents=True)
    (tmp_path / "media" / "jobs" / "1-x" / "job.log").write_text("x")
    from config.settings import storages_for

    settings.STORAGES = {
        **settings.STORAGES,
        **storages_for(s3["S3_ENDPOINT_URL"], "no-such-bucket"),
    }
    with pytest.raises(CommandError, match="Cannot use the storage .*S3_BUCKET"):
        call_command("migrate_storage", "--media-root", str(tmp_path / "media"))


def test_old_predictions_are_pruned_from_s3(db, s3):
    from datetime import timedelta

    from django.utils import timezone

    from experiments.models import ImagePrediction
    from experiments.research.retention import prune_predictions
    from tests.conftest import make_job

    for name in ("image.png", "heatmap.png"):
        stores.artifacts().save(f"predict/abc/{name}", ContentFile(b"png"))
    stores.artifacts().save("predict/new/image.png", ContentFile(b"png"))
    job = make_job()
    old = ImagePrediction.objects.create(
        job=job, image="predict/abc/image.png", heatmap="predict/abc/heatmap.png"
    )
    ImagePrediction.objects.create(job=job, image="predict/new/image.png")
    ImagePrediction.objects.update(status=ImagePrediction.SUCCEEDED)
    ImagePrediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    result = prune_predictions(30)
    assert [item.id for item in result.removed] == [old.pk]
    assert stored_keys(s3, "predict/") == ["predict/new/image.png"]
    assert list(ImagePrediction.objects.values_list("image", flat=True)) == [
        "predict/new/image.png"
    ]


def test_a_zip_upload_travels_through_the_uploads_storage(db, s3, settings, tmp_path):
    """The web stores the zip on S3; the import (on any host) fetches it, stores the kept
    images once, and removes the zip."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from experiments.datasets.imports import queue_import, run_import
    from tests.experiments.test_uploads import digits_zip

    settings.DATA_ROOTS = [tmp_path / "data"]
    settings.DATASET_UPLOAD_ROOT = tmp_path / "data" / "uploads"
    archive = SimpleUploadedFile("skin.zip", digits_zip().getvalue(), "application/zip")
    record = queue_import("skin", "", "default", zip_file=archive)
    assert stored_keys(s3, "uploads/") == [f"uploads/{record.upload_report['zip_key']}"]
    assert run_import(record.pk) == "succeeded"
    record.refresh_from_db()
    hashes = set(record.dataset.images.values_list("sha256", flat=True))
    assert stored_keys(s3, "uploads/") == []
    assert stored_keys(s3, "datasets/") == sorted(
        f"datasets/{stores.blob_key(sha)}" for sha in hashes
    )
