"""A worker on "another host": it is given the broker, the database and the S3 settings only.

Its working folder, MEDIA_ROOT, DATA_ROOTS and cache are empty folders of its own, and the
dataset's folder on the web host is deleted once imported, so the job can only succeed through
the storages. The web then serves the job's model, log and predictions, and the worker answers
"try the model" on an uploaded image.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from experiments.datasets.importer import ImportOptions, import_dataset
from experiments.jobs.actions import launch
from experiments.models import ImagePrediction, TrainingJob
from experiments.research.predictions import request_image_prediction
from tests.conftest import wait_for
from tests.storage.conftest import stored_keys
from tests.workers.tiny import TINY_JOB

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def start_remote_worker(env: dict, home: Path) -> subprocess.Popen:
    from workers.celery import app

    log = home / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu,predict",
         "--hostname", "remote@%h", "--pool", "solo", "--concurrency", "1",
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        cwd=home, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited:\n{log.read_text()[-3000:]}")
        replies = app.control.ping(timeout=1.0)
        if any(host.startswith("remote@") for reply in replies for host in reply):
            return process
    process.kill()
    raise AssertionError(f"worker not ready:\n{log.read_text()[-3000:]}")


def test_a_worker_without_the_web_hosts_files_trains_and_predicts(
    worker_env, s3, settings, tmp_path, client, researcher
):
    from experiments.datasets.demo import write_digits

    # The web host imports a folder: its kept images go to the datasets storage once.
    folder = tmp_path / "web-host-data"
    settings.DATA_ROOTS = [folder]
    write_digits(folder, per_class=16, size=32, classes=3)
    dataset = import_dataset(folder, "tiny", ImportOptions(test_fraction=0.25, seed=0)).dataset
    kept = dataset.images.exclude(split="excluded").values_list("sha256", flat=True)
    assert len(stored_keys(s3, "datasets/")) == len(set(kept))
    shutil.rmtree(folder)

    other = tmp_path / "other-host"
    for sub in ("media", "data", "cache", "var"):
        (other / sub).mkdir(parents=True)
    env = {
        **worker_env,
        **s3,
        "MEDIA_ROOT": str(other / "media"),
        "DATA_ROOTS": str(other / "data"),
        "DATASET_UPLOAD_ROOT": str(other / "data" / "uploads"),
        "WORKER_CACHE_DIR": str(other / "cache"),
        "APP_VAR_DIR": str(other / "var"),
        "PYTHONPATH": str(ROOT),
        "PREDICT_WARM_CHILDREN": "0",
    }
    worker = start_remote_worker(env, other)
    try:
        job = launch({"library": "fastai", "dataset": dataset, **TINY_JOB})
        wait_for(
            lambda: TrainingJob.objects.get(pk=job.pk).status in TrainingJob.FINISHED,
            900,
            message="the job to finish",
        )
        job.refresh_from_db()
        assert job.status == TrainingJob.SUCCEEDED, job.error

        # Its files are on S3 under its own prefix (the log once the job's process has
        # ended), none on either host's media disk.
        assert job.evaluation["model_file"] in stored_keys(s3, job.workdir)
        wait_for(lambda: f"{job.workdir}/job.log" in stored_keys(s3, job.workdir), 60)
        assert not (Path(settings.MEDIA_ROOT) / "jobs").exists()
        assert list((other / "media").iterdir()) == []
        assert len(list((other / "cache" / "blobs").glob("??/*"))) == len(set(kept))

        client.force_login(researcher)  # the full log is for researchers only
        model = client.get(f"/experiments/runs/{job.pk}/download/model/")
        assert model.status_code == 200
        model_bytes = b"".join(model.streaming_content)
        assert len(model_bytes) > 1000
        log = client.get(f"/experiments/runs/{job.pk}/download/log/")
        assert b"phase 2 epoch 1" in b"".join(log.streaming_content)
        csv = client.get(f"/experiments/runs/{job.pk}/predictions.csv")
        assert csv.status_code == 200 and csv.content.count(b"\n") == 1 + 12

        # "Try the model": the image travels through the storage, and so does the heatmap.
        image = Image.new("RGB", (32, 32), (200, 30, 30))
        prediction = request_image_prediction(job, image, "red.png", researcher)
        wait_for(
            lambda: (
                ImagePrediction.objects.get(pk=prediction.pk).status
                in (ImagePrediction.SUCCEEDED, ImagePrediction.FAILED)
            ),
            300,
            message="the prediction",
        )
        prediction.refresh_from_db()
        assert prediction.status == ImagePrediction.SUCCEEDED, prediction.error
        client.force_login(researcher)
        heatmap = client.get(f"/experiments/image-predictions/{prediction.pk}/heatmap.png")
        assert heatmap.status_code == 200
        assert b"".join(heatmap.streaming_content).startswith(b"\x89PNG")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
