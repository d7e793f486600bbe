"""Issue 19: a waiting or running job says what it is doing, and since when."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from experiments.jobs.stages import current_stage, stage_state
from experiments.models import TrainingJob
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """Requests in Spanish leave Spanish active in this thread; later tests expect English."""
    yield
    translation.activate("en")


def _live(client, job, lang="en"):
    return client.get(f"/experiments/runs/{job.pk}/live/", HTTP_ACCEPT_LANGUAGE=lang).json()


def test_stages_follow_what_the_worker_records(tiny_dataset):
    job = make_job(tiny_dataset, status="queued", evaluation={}, phase_seconds={})
    assert current_stage(job) == "waiting"
    job.status, job.started_at = "running", timezone.now()
    assert current_stage(job) == "loading"
    job.device, job.run_lr_finder = "cpu", True
    assert current_stage(job) == "lr_finder"
    job.lr_finder = {"lrs": [1e-3]}
    assert current_stage(job) == "preparing"
    job.progress_phase = 1
    assert current_stage(job) == "phase1"
    job.progress_phase = 2
    assert current_stage(job) == "phase2"
    job.progress_epoch = job.total_epochs
    assert current_stage(job) == "evaluating"
    job.status = "succeeded"
    assert current_stage(job) == "finished"


def test_queue_position_and_time_spent(client, tiny_dataset):
    running = make_job(tiny_dataset, status="running", evaluation={}, phase_seconds={"1": 75.0})
    TrainingJob.objects.filter(pk=running.pk).update(
        started_at=timezone.now() - timedelta(minutes=3),
        device="cpu",
        progress_phase=1,
        created_at=timezone.now() - timedelta(minutes=4),
    )
    first = make_job(tiny_dataset, status="queued", evaluation={}, phase_seconds={})
    second = make_job(tiny_dataset, status="queued", evaluation={}, phase_seconds={})
    TrainingJob.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    state = _live(client, second)["stage"]
    assert state["stage"] == "waiting" and state["queue"]["position"] == 2
    assert f"#{running.pk}" in state["queue_text"]

    state = _live(client, running)["stage"]
    assert state["label"] == "Training phase 1 of 2 (body frozen)"
    texts = [item["text"] for item in state["spent"]]
    assert texts[0].startswith("Waiting for the training slot: 1 min")
    assert "Training phase 1 of 2 (body frozen): 1 min 15 s" in texts

    es = _live(client, running, "es")["stage"]
    assert es["label"].startswith("Entrenando fase 1 de 2")
    page = client.get(f"/experiments/runs/{running.pk}/", HTTP_ACCEPT_LANGUAGE="es")
    assert (
        'id="run-stage"' in page.content.decode() and "Entrenando fase 1" in page.content.decode()
    )


def test_finished_run_has_no_stage_line_to_show(tiny_dataset):
    job = make_job(tiny_dataset)
    state = stage_state(job)
    assert state["stage"] == "finished" and state["queue"] is None
