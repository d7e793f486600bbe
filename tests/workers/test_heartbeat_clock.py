"""Heartbeats are written in the database's clock, whatever the worker machine's clock says.

The reaper and the Workers page compare heartbeats with the database's NOW(); a worker whose
clock is hours off must neither look dead nor show a time from its own clock.
"""

from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from experiments.models import TrainingJob, WorkerHeartbeat
from tests.conftest import make_job
from workers import heartbeat
from workers.supervisor import reap_stale_jobs
from workers.training.db_reporter import DbReporter

pytestmark = pytest.mark.django_db
SKEW = timedelta(hours=2)
CLOSE = timedelta(seconds=60)  # correctness, not speed: skewed writes are hours off


def skew_clock(monkeypatch, offset: timedelta) -> None:
    """This process's clock (django.utils.timezone.now) `offset` away from the database's."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset)


@pytest.fixture
def clock_ahead(monkeypatch):
    skew_clock(monkeypatch, SKEW)


def in_database_time(rows, field: str):
    """(stored value, the database's NOW()) of the one row."""
    stored, database_now = (
        rows.annotate(database_now=Now()).values_list(field, "database_now").get()
    )
    return stored, database_now


def test_worker_heartbeats_store_the_databases_time(clock_ahead):
    rows = WorkerHeartbeat.objects.filter(hostname="skewed@host")
    heartbeat.beat("skewed@host", ["gpu"], ("", None), job_slots=1)  # created
    last_seen, database_now = in_database_time(rows, "last_seen")
    assert abs(last_seen - database_now) < CLOSE
    assert timezone.now() - last_seen > SKEW - CLOSE  # not the worker's clock

    WorkerHeartbeat.objects.filter(hostname="skewed@host").update(last_seen=Now() - SKEW)
    heartbeat.beat("skewed@host", ["gpu"], ("", None), job_slots=1)  # updated
    last_seen, database_now = in_database_time(rows, "last_seen")
    assert abs(last_seen - database_now) < CLOSE
    assert rows.get().job_slots == 1 and rows.get().queues == ["gpu"]

    job = make_job(status="running", worker_host="skewed@host")
    rows.update(last_seen=Now() - SKEW)
    heartbeat.set_current_job("skewed@host", job.pk)
    last_seen, database_now = in_database_time(rows, "last_seen")
    assert abs(last_seen - database_now) < CLOSE and rows.get().current_job_id == job.pk


def test_job_heartbeats_from_the_training_process_store_the_databases_time(clock_ahead):
    job = make_job(status="running")
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=None)
    DbReporter(job).phase_started(1, epochs=2, batches_per_epoch=3)
    rows = TrainingJob.objects.filter(pk=job.pk)
    heartbeat_at, database_now = in_database_time(rows, "heartbeat_at")
    assert abs(heartbeat_at - database_now) < CLOSE
    assert rows.get().progress_phase == 1


def test_a_live_worker_with_a_slow_clock_is_not_taken_for_dead(monkeypatch, settings):
    """Its job's heartbeat stopped (hung) while the worker still beats with a clock 2 h slow:
    the reaper must say the job hung, not that its worker died."""
    settings.JOB_STALE_AFTER = 30
    job = make_job(status="running", worker_host="slow@host")
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=Now() - timedelta(seconds=60))
    skew_clock(monkeypatch, -SKEW)
    heartbeat.beat("slow@host", ["gpu"], ("", None), current_job=job)
    assert reap_stale_jobs() == 1
    job.refresh_from_db()
    assert job.status == TrainingJob.FAILED
    assert "still running" in job.error and "died" not in job.error


def test_the_workers_page_judges_online_in_database_time(client, clock_ahead):
    """The web server's clock 2 h ahead: a worker that just beat is still online."""
    WorkerHeartbeat.objects.create(hostname="fresh@host", queues=["gpu"], last_seen=Now())
    WorkerHeartbeat.objects.create(hostname="gone@host", queues=["gpu"], last_seen=Now() - SKEW)
    html = client.get("/experiments/workers/").content.decode()
    assert '<tr class="online"><td>fresh@host</td>' in html
    assert '<tr class="offline"><td>gone@host</td>' in html
