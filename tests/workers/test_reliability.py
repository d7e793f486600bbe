"""Dispatch, reconciler and reaper decisions on the real Redis broker and database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from experiments.jobs.actions import create_job, dispatch, launch, reconcile
from experiments.models import TrainingJob, WorkerHeartbeat
from tests.conftest import BROKER
from tests.faults.conftest import _use_broker
from tests.faults.services import free_port
from workers.supervisor import reap_stale_jobs

pytestmark = pytest.mark.django_db
SMALL = {"library": "fastai", "architecture": "small-cnn", "pretrained": False}


@pytest.fixture
def broker():
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    yield client
    client.flushdb()


def queued_ids(client) -> list[str]:
    """The job id of each waiting training message (its args as Celery shows them)."""
    return [
        json.loads(m)["headers"]["argsrepr"].strip("[](),") for m in client.lrange("gpu", 0, -1)
    ]


def test_a_repeated_idempotency_key_returns_the_first_job(tiny_dataset):
    first = launch({**SMALL, "dataset": tiny_dataset}, idempotency_key="retry-key-0001")
    again = launch({**SMALL, "dataset": tiny_dataset}, idempotency_key="retry-key-0001")
    assert again.pk == first.pk and again.repeated and not first.repeated
    assert TrainingJob.objects.count() == 1


def test_the_reconciler_resends_lost_messages_but_not_waiting_ones(tiny_dataset, broker, settings):
    settings.JOB_RESEND_AFTER = 60
    job = create_job({**SMALL, "dataset": tiny_dataset})
    old = timezone.now() - timedelta(seconds=120)
    TrainingJob.objects.filter(pk=job.pk).update(created_at=old)
    assert reconcile() == [job.pk]  # never dispatched: sent now
    assert queued_ids(broker) == [str(job.pk)]
    # Not yet claimed two minutes later, but its message is still waiting: not sent again.
    TrainingJob.objects.filter(pk=job.pk).update(dispatched_at=old)
    assert reconcile() == []
    assert len(queued_ids(broker)) == 1
    # The broker lost it (a restart without persistence): sent again.
    broker.flushdb()
    TrainingJob.objects.filter(pk=job.pk).update(dispatched_at=old)
    assert reconcile() == [job.pk] and len(queued_ids(broker)) == 1
    # Cancelled or running jobs are never re-sent.
    TrainingJob.objects.filter(pk=job.pk).update(status="cancelled", dispatched_at=old)
    broker.flushdb()
    assert reconcile() == [] and queued_ids(broker) == []


def test_dispatch_with_the_broker_down_keeps_the_job_queued(tiny_dataset, settings):
    job = create_job({**SMALL, "dataset": tiny_dataset})
    _use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        assert dispatch(job.pk) is False
    finally:
        _use_broker(BROKER)
    job.refresh_from_db()
    assert job.status == "queued" and job.dispatched_at is None


def test_the_reaper_tells_a_dead_worker_from_a_hung_job(tiny_dataset, settings):
    settings.JOB_STALE_AFTER = 30
    old = timezone.now() - timedelta(seconds=60)
    dead = create_job({**SMALL, "dataset": tiny_dataset})
    hung = create_job({**SMALL, "dataset": tiny_dataset})
    restarted = create_job({**SMALL, "dataset": tiny_dataset})
    TrainingJob.objects.filter(pk=restarted.pk).update(
        status="running", heartbeat_at=old, worker_host="again@host"
    )
    TrainingJob.objects.filter(pk=dead.pk).update(
        status="running", heartbeat_at=old, worker_host="gone@host"
    )
    TrainingJob.objects.filter(pk=hung.pk).update(
        status="running", heartbeat_at=old, worker_host="alive@host"
    )
    WorkerHeartbeat.objects.create(hostname="gone@host", queues=["gpu"], last_seen=old)
    WorkerHeartbeat.objects.create(
        hostname="alive@host", queues=["gpu"], last_seen=timezone.now(), current_job=hung
    )
    # Restarted under the same name (a restart policy): it beats, but runs nothing of its own.
    WorkerHeartbeat.objects.create(hostname="again@host", queues=["gpu"], last_seen=timezone.now())
    assert reap_stale_jobs() == 3
    dead.refresh_from_db()
    hung.refresh_from_db()
    restarted.refresh_from_db()
    assert dead.status == hung.status == restarted.status == "failed"
    assert "worker running this job died" in dead.error
    assert "worker running this job died" in restarted.error
    assert "still running" in hung.error and "died" not in hung.error
