"""A job killed on purpose (a cancel, the bench's deadline) is recorded as cancelled, never as
a failure: real child processes, killed for real, on the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from experiments.models import TrainingJob
from tests.conftest import make_job
from workers import supervisor

# Ignores SIGTERM, as a job inside a long compile does: only SIGKILL ends it.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


def running_job(**fields) -> TrainingJob:
    return make_job(status=TrainingJob.RUNNING, evaluation={}, **fields)


@pytest.mark.django_db
def test_a_cancelled_job_killed_by_sigkill_is_cancelled(monkeypatch, tmp_path):
    monkeypatch.setattr(supervisor, "CANCEL_GRACE_SECONDS", 0)
    job = running_job(cancel_requested=True)
    child = subprocess.Popen([sys.executable, "-c", STUBBORN])
    outcome = supervisor._watch(job, child, os.getppid(), None, tmp_path / "progress")
    job.refresh_from_db()
    assert child.returncode == -9
    assert outcome == job.status == TrainingJob.CANCELLED
    assert "Cancelled" in job.error and "SIGKILL" not in job.error


@pytest.mark.django_db
def test_a_failure_recorded_while_stopping_for_a_cancel_is_a_cancel():
    # fastai: SIGTERM reaches the loader workers too, the job then fails with "DataLoader
    # worker exited unexpectedly" on its way out
    job = running_job(cancel_requested=True)
    TrainingJob.objects.filter(pk=job.pk).update(
        status=TrainingJob.FAILED, error="DataLoader worker (pid 1) exited unexpectedly"
    )
    assert supervisor._record_exit(job, 1, "", None, stopped=True) == TrainingJob.CANCELLED
    # without a cancel, the same failure stays a failure
    other = running_job()
    TrainingJob.objects.filter(pk=other.pk).update(status=TrainingJob.FAILED, error="boom")
    assert supervisor._record_exit(other, 1, "", None, stopped=True) == TrainingJob.FAILED


@pytest.mark.django_db
def test_a_killed_worker_cancels_what_was_cancelled_and_fails_the_rest():
    asked, not_asked = running_job(cancel_requested=True), running_job()
    supervisor._end_unfinished(asked, "The worker process died while this job was running.")
    supervisor._end_unfinished(not_asked, "The worker process died while this job was running.")
    asked.refresh_from_db(), not_asked.refresh_from_db()
    assert asked.status == TrainingJob.CANCELLED
    assert not_asked.status == TrainingJob.FAILED and "died" in not_asked.error


@pytest.mark.django_db
def test_a_deadline_cancels_the_unfinished_jobs_only():
    running, queued = running_job(), make_job(status=TrainingJob.QUEUED, evaluation={})
    done = make_job()
    count = supervisor.mark_cancelled(
        [running.pk, queued.pk, done.pk], "Cancelled at the bench's deadline."
    )
    assert count == 2
    statuses = dict(TrainingJob.objects.values_list("pk", "status"))
    assert statuses[running.pk] == statuses[queued.pk] == TrainingJob.CANCELLED
    assert statuses[done.pk] == TrainingJob.SUCCEEDED
