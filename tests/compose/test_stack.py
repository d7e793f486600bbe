"""The compose stack for real (scripts/compose_stage.sh brings it up and down): the demo
dataset imported through the web, a job trained by the worker container, its files downloaded
through the web, a model tried on an uploaded image, a worker killed mid-job, and Redis,
PostgreSQL and the S3 store down for a while.

The tests run in order and build on each other (one dataset, one trained run)."""

from __future__ import annotations

import io
import json
import secrets

import pytest
from PIL import Image

from tests.compose.stack import (
    BUILD_WAIT,
    WEB,
    Web,
    container,
    digits_zip,
    docker,
    health,
    researcher,
    wait_for,
)
from tests.workers.tiny import TINY_JOB

if not WEB:  # not skipped: run without its stack, this module fails and says why
    pytest.fail("tests/compose needs the stack that scripts/compose_stage.sh starts", pytrace=False)

SMALL = {**TINY_JOB, "library": "fastai", "max_batches": 1, "dataset": "demo"}
WORKERS = ("worker", "cpu-worker", "predict-worker")
state: dict = {}


@pytest.fixture(scope="module")
def web():
    password = secrets.token_urlsafe(12)
    researcher("compose", password)
    return Web("compose", password)


def mounts(service: str) -> set[str]:
    info = json.loads(docker("inspect", container(service)))[0]
    return {m.get("Name") or m["Source"] for m in info["Mounts"]}


def test_no_volume_is_shared_between_web_and_a_worker():
    web_mounts = mounts("web")
    for worker in WORKERS:
        assert not web_mounts & mounts(worker), worker


def test_the_demo_dataset_imports_through_the_web(web):
    answer = web.form(
        "/experiments/datasets/upload/",
        {"name": "demo", "preset": "default", "min_images": ""},
        files={"archive": ("demo.zip", digits_zip(), "application/zip")},
    )
    assert answer.ok and "/experiments/datasets/imports/" in answer.url, answer.text[:500]
    status_url = answer.url.split("?")[0] + "?format=json"

    def finished():
        row = web.http.get(status_url, timeout=30).json()
        return row if row["status"] in ("succeeded", "failed") else None

    row = wait_for(finished, BUILD_WAIT, "the dataset import")
    assert row["status"] == "succeeded", row
    assert row["total"] == 36


def test_a_job_trains_in_the_worker_container(web):
    answer = web.post("/api/jobs/", json=SMALL)
    assert answer.status_code == 201, answer.text
    job = web.finished(answer.json()["id"], BUILD_WAIT)
    assert job["status"] == "succeeded", job
    # The CPU worker's container ran it (Celery names it cpu@<container hostname>).
    hostname = docker("inspect", "-f", "{{.Config.Hostname}}", container("cpu-worker")).strip()
    assert hostname in job["worker_host"], job["worker_host"]
    state["job"] = job["id"]


def test_its_model_log_and_predictions_download_through_the_web(web):
    pk = state["job"]
    log = web.http.get(f"{WEB}/experiments/runs/{pk}/download/log/", timeout=60)
    assert log.status_code == 200 and b"epoch" in log.content.lower(), log.content[:300]
    model = web.http.get(f"{WEB}/experiments/runs/{pk}/download/model/", timeout=120)
    assert model.status_code == 200 and len(model.content) > 1000
    csv = web.http.get(f"{WEB}/experiments/runs/{pk}/predictions.csv", timeout=60)
    assert csv.status_code == 200 and csv.text.count("\n") > 1, csv.text[:300]
    api = web.get(f"/api/jobs/{pk}/predictions/")
    assert api.status_code == 200 and api.json(), api.text[:300]


def test_a_model_is_tried_on_an_uploaded_image(web):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, "PNG")
    answer = web.post(
        f"/api/jobs/{state['job']}/predict/", files={"image": ("red.png", buffer.getvalue())}
    )
    assert answer.status_code == 202, answer.text

    def done():
        row = web.get(answer.json()["url"]).json()
        return row if row["status"] in ("succeeded", "failed") else None

    row = wait_for(done, BUILD_WAIT, "the image prediction")
    assert row["status"] == "succeeded", row
    assert row["predicted"] in {"0", "1", "2"} and row["probabilities"]
    heatmap = web.http.get(f"{WEB}{row['heatmap_url']}", timeout=60)
    assert heatmap.status_code == 200 and heatmap.content[:4] == b"\x89PNG"


def test_a_killed_worker_fails_its_job_with_the_reason_and_a_queued_job_runs_after(web):
    longer = web.post("/api/jobs/", json={**SMALL, "epochs2": 400}).json()["id"]
    # Mid-job: running, with an epoch reported (the model is built, batches are going).
    wait_for(
        lambda: (
            web.job(longer)["status"] == "running"
            and web.get(f"/api/jobs/{longer}/metrics/").json()
        ),
        BUILD_WAIT,
        "the long job running with an epoch done",
    )
    docker("kill", container("cpu-worker"))
    queued = web.post("/api/jobs/", json=SMALL)
    assert queued.status_code == 201, queued.text
    killed = web.finished(longer, BUILD_WAIT)
    assert killed["status"] == "failed", killed
    assert "the worker running this job died" in killed["error"], killed["error"]
    assert web.job(queued.json()["id"])["status"] == "queued"

    docker("start", container("cpu-worker"))
    after = web.finished(queued.json()["id"], BUILD_WAIT)
    assert after["status"] == "succeeded", after
    wait_for(lambda: health("cpu-worker") == "healthy", BUILD_WAIT, "cpu-worker healthy again")


def test_a_launch_while_redis_is_down_is_kept_and_runs_when_it_is_back(web):
    docker("kill", container("redis"))
    try:
        answer = web.post("/api/jobs/", json=SMALL)
        assert answer.status_code == 201, answer.text
        assert answer.json()["dispatched"] is False
        assert "queue is back" in answer.json()["detail"]
    finally:
        docker("start", container("redis"))
    job = web.finished(answer.json()["id"], BUILD_WAIT)
    assert job["status"] == "succeeded" and job["attempt"] == 1, job


def test_a_postgres_restart_mid_job_does_not_fail_it(web):
    pk = web.post("/api/jobs/", json={**SMALL, "epochs2": 40}).json()["id"]
    # Mid-training (an epoch reported).
    wait_for(lambda: web.get(f"/api/jobs/{pk}/metrics/").json(), BUILD_WAIT, "an epoch reported")
    assert web.job(pk)["status"] == "running"
    docker("restart", "-t", "5", container("postgres"))
    job = web.finished(pk, BUILD_WAIT)
    assert job["status"] == "succeeded" and job["attempt"] == 1, job["error"]


def test_a_job_waits_out_an_s3_outage_and_the_web_says_so_meanwhile(web):
    """The store stops while a job trains: its model is stored once the store is back (the
    job waits, JOB_STORE_OUTAGE_SECONDS); downloads answer 503 meanwhile, never a 500."""
    job = {**SMALL, "epochs2": 100}  # still training when the store stops
    pk = web.post("/api/jobs/", json=job).json()["id"]
    wait_for(lambda: web.get(f"/api/jobs/{pk}/metrics/").json(), BUILD_WAIT, "an epoch reported")
    docker("stop", "-t", "5", container("s3"))
    try:
        download = f"{WEB}/experiments/runs/{state['job']}/download/model/"
        answer = web.http.get(download, timeout=120)
        assert answer.status_code == 503 and "file store" in answer.text, answer.status_code
        assert int(answer.headers["Retry-After"]) > 0
        # Every epoch done: the job is storing its model now, into a store that is down.
        epochs = job["epochs1"] + job["epochs2"]
        wait_for(
            lambda: len(web.get(f"/api/jobs/{pk}/metrics/").json()) >= epochs,
            BUILD_WAIT,
            "the job's last epoch",
        )
        assert web.job(pk)["status"] == "running", web.job(pk)["error"]
    finally:
        docker("start", container("s3"))
    wait_for(lambda: health("s3") == "healthy", BUILD_WAIT, "s3 healthy again")
    finished = web.finished(pk, BUILD_WAIT)
    assert finished["status"] == "succeeded" and finished["attempt"] == 1, finished["error"]
    model = web.http.get(f"{WEB}/experiments/runs/{pk}/download/model/", timeout=120)
    assert model.status_code == 200 and len(model.content) > 1000
