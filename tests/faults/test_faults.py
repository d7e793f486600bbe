"""Fault suite: broker and database killed and restarted while jobs wait and while they run.

Every job must end succeeded, or failed with the true reason; none may stay queued or running,
none may run twice (attempt == 1). Each scenario prints its row of the fault table.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import db, wait_jobs
from tests.workers.tiny import TINY_JOB

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SMALL = {**TINY_JOB, "library": "fastai", "max_batches": 1}
LONGER = {**SMALL, "epochs2": 12}
TABLE: list[tuple[str, str, float]] = []


@pytest.fixture(scope="module")
def world(fault_world):
    from experiments.datasets.demo import write_digits
    from experiments.datasets.importer import ImportOptions, import_dataset

    write_digits(fault_world.data / "digits", per_class=12, size=32, classes=3)
    import_dataset(fault_world.data / "digits", "digits", ImportOptions(test_fraction=0.25))
    fault_world.start_worker("gpu-fault", "gpu")
    fault_world.start_worker("ctl-fault", "default", beat=True)
    yield fault_world
    print("\nFAULT TABLE (scenario | outcome | seconds)")
    for row in TABLE:
        print(f"  {row[0]} | {row[1]} | {row[2]:.1f}")


def launch(**changes):
    from experiments.jobs.actions import launch as launch_job

    return launch_job({**SMALL, "dataset": "digits", **changes})


def rows(jobs):
    from experiments.models import TrainingJob

    ids = [j.pk for j in jobs]
    return db(
        lambda: list(
            TrainingJob.objects.filter(pk__in=ids)
            .order_by("pk")
            .values("pk", "status", "attempt", "error")
        )
    )


def assert_all_succeeded_once(jobs):
    for row in rows(jobs):
        assert row["status"] == "succeeded", row
        assert row["attempt"] == 1, row


def test_launch_while_the_broker_is_down_saves_the_job_and_runs_it_later(world, client):
    from django.contrib.auth.models import User

    from experiments.models import TrainingJob
    from experiments.roles import ensure_researchers_group

    user = User.objects.create_user("faulty", password="x")
    user.groups.add(ensure_researchers_group())
    client.force_login(user)
    world.redis.kill()
    started = time.monotonic()
    body = {k: v for k, v in SMALL.items() if k != "run_lr_finder"} | {"dataset": "digits"}
    first = client.post(
        "/api/jobs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="fault-key-1"
    )
    assert first.status_code == 201, first.content
    assert first.json()["dispatched"] is False and "queue is back" in first.json()["detail"]
    # The user retries (the same key): the same job, not a second one.
    again = client.post(
        "/api/jobs/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="fault-key-1"
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert TrainingJob.objects.filter(idempotency_key="fault-key-1").count() == 1
    job = TrainingJob.objects.get(pk=first.json()["id"])
    assert job.status == "queued" and job.dispatched_at is None
    time.sleep(3)
    world.redis.start()
    seconds = wait_jobs([job], 240, world)
    assert_all_succeeded_once([job])
    took = time.monotonic() - started
    TABLE.append(("launch while Redis down, Redis back", "succeeded once", took))
    assert seconds > 0


def test_redis_restart_without_persistence_loses_messages_but_not_jobs(world):
    running = launch()
    waiting = [launch()]
    wait_for(lambda: rows([running])[0]["status"] == "running", 120, message="first job running")
    started = time.monotonic()
    world.redis.kill()  # its queue (the waiting message, the unacked one) is gone
    time.sleep(2)
    world.redis.start()
    wait_jobs([running, *waiting], 300, world)
    assert_all_succeeded_once([running, *waiting])
    TABLE.append(
        ("Redis killed + restarted empty, 1 running + 1 waiting", "2 succeeded once",
         time.monotonic() - started)
    )  # fmt: skip


def test_postgres_down_while_jobs_wait_keeps_their_messages(world):
    jobs = [launch(), launch()]
    started = time.monotonic()
    world.pg.stop("fast")  # the gpu worker takes a message, cannot claim: must not drop it
    time.sleep(10)
    world.pg.start()
    wait_jobs(jobs, 300, world)
    assert_all_succeeded_once(jobs)
    TABLE.append(
        ("PostgreSQL down 10 s while 2 jobs wait", "2 succeeded once", time.monotonic() - started)
    )


def test_postgres_restart_mid_job_does_not_fail_it(world):
    from experiments.models import EpochMetric

    job = launch(**LONGER)
    wait_for(
        lambda: db(lambda: EpochMetric.objects.filter(job_id=job.pk).exists()),
        180,
        message="the job to train",
    )
    started = time.monotonic()
    world.pg.stop("fast")
    time.sleep(6)
    world.pg.start()
    wait_jobs([job], 240, world)
    assert_all_succeeded_once([job])
    assert db(lambda: EpochMetric.objects.filter(job_id=job.pk).count()) == 13
    TABLE.append(("PostgreSQL restart (6 s) mid-job", "succeeded, all 13 epochs kept",
                  time.monotonic() - started))  # fmt: skip


def test_a_hung_child_is_killed_with_that_reason(world):
    job = launch(**{**LONGER, "epochs2": 200})
    wait_for(lambda: rows([job])[0]["status"] == "running", 120, message="the job to start")
    from experiments.models import EpochMetric, TrainingJob

    wait_for(
        lambda: db(lambda: EpochMetric.objects.filter(job_id=job.pk).exists()),
        180,
        message="the job to train",
    )
    pid = db(lambda: TrainingJob.objects.get(pk=job.pk).process_id)
    # The job runs below the web's CPU priority (JOB_NICE, default 10).
    assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 10
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)  # a hung data loader or device, as seen from outside
    wait_jobs([job], 120, world)
    row = rows([job])[0]
    assert row["status"] == "failed" and "no progress" in row["error"], row
    assert "heartbeat" not in row["error"]  # the true reason, not "the worker died"
    TABLE.append(("job child hung (SIGSTOP)", "failed: no progress", time.monotonic() - started))


def test_an_import_created_while_redis_is_down_runs_when_it_is_back(world):
    from experiments.datasets.imports import queue_import
    from experiments.models import DatasetImport

    world.redis.kill()
    started = time.monotonic()
    record = db(lambda: queue_import("digits-later", str(world.data / "digits"), "default"))
    assert record.dispatched is False and record.status == "queued"
    time.sleep(3)
    world.redis.start()

    def status() -> str:
        return db(lambda: DatasetImport.objects.get(pk=record.pk).status)

    wait_for(lambda: status() in ("succeeded", "failed"), 180, message="the import to finish")
    assert status() == "succeeded"
    TABLE.append(("import while Redis down, Redis back", "succeeded", time.monotonic() - started))


def test_none_left_queued_or_running(world):
    from experiments.models import TrainingJob

    stuck = db(
        lambda: list(
            TrainingJob.objects.exclude(status__in=TrainingJob.FINISHED).values("pk", "status")
        )
    )
    assert stuck == []
    from experiments.models import DatasetImport

    assert not db(lambda: DatasetImport.objects.filter(status__in=["queued", "running"]).exists())
