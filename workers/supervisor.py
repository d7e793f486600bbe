"""Runs a job's child process and watches it: heartbeat, cancel, crash, worker death.

Called by the Celery task (workers.tasks.run_training_job) and by `manage.py train`, so both
take the same path. The database decides whether a job may start: a message delivered twice
never starts a second copy of a job that is running (fresh heartbeat) or finished.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from experiments.models import TrainingJob

from .heartbeat import set_current_job

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5
STALE_AFTER_SECONDS = 30  # no heartbeat for this long: the job's worker is gone
CANCEL_GRACE_SECONDS = 20  # SIGTERM, then SIGKILL if the job has not stopped
ROOT = Path(__file__).resolve().parent.parent


def claim(job_id: int, task_id: str, hostname: str) -> TrainingJob | None:
    """Mark a queued job running for this worker; None if it must not run here."""
    reap_stale_jobs()
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s does not exist; message dropped", job_id)
            return None
        if job.status != TrainingJob.QUEUED:
            logger.info("job %s is %s; not starting it again", job_id, job.status)
            return None
        if job.cancel_requested:
            return None
        now = timezone.now()
        job.status = TrainingJob.RUNNING
        job.started_at = job.heartbeat_at = now
        job.worker_host = hostname
        job.task_id = task_id or job.task_id
        job.attempt += 1
        job.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "worker_host",
                "task_id",
                "attempt",
            ]
        )
        return job


def reap_stale_jobs(now=None) -> int:
    """Policy: a running job whose heartbeat stopped is failed (not requeued), with a reason.
    Requeueing a half-trained job would silently mix two runs; a clone starts it cleanly."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=STALE_AFTER_SECONDS)
    stale = TrainingJob.objects.filter(status=TrainingJob.RUNNING, heartbeat_at__lt=limit)
    return stale.update(
        status=TrainingJob.FAILED,
        finished_at=now,
        error=(
            f"No heartbeat for over {STALE_AFTER_SECONDS} s: the worker running this job died "
            "(killed, out of memory or lost). Metrics up to then are kept; clone the job to "
            "run it again."
        ),
    )


def supervise(
    job_id: int,
    task_id: str = "",
    hostname: str = "",
    on_tick: Callable[[TrainingJob], None] | None = None,
) -> str:
    hostname = hostname or socket.gethostname()
    job = claim(job_id, task_id, hostname)
    if job is None:
        return "skipped"
    workdir = Path(settings.MEDIA_ROOT) / "jobs" / str(job.pk)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # The child uses exactly this process's database and media root.
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    parent = os.getppid()
    with (workdir / "job.log").open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "workers.training.runner", str(job.pk)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        TrainingJob.objects.filter(pk=job.pk).update(process_id=child.pid)
        set_current_job(hostname, job.pk)
        try:
            outcome = _watch(job, child, parent, on_tick)
        finally:
            set_current_job(hostname, None)
    return outcome


def current_database_url() -> str:
    db = connection.settings_dict
    from urllib.parse import quote, urlencode

    if db["ENGINE"].endswith("sqlite3"):  # keep OPTIONS (timeout, WAL): N jobs write at once
        options = urlencode(db.get("OPTIONS") or {})
        return f"sqlite:///{db['NAME']}" + (f"?{options}" if options else "")

    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += f":{quote(db['PASSWORD'], safe='')}"
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def _watch(job: TrainingJob, child: subprocess.Popen, parent: int, on_tick) -> str:
    last_beat = 0.0
    term_sent_at = None
    while True:
        try:
            returncode = child.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # Ctrl-C on `manage.py train`: cancel, keep what was done
            TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
            child.send_signal(signal.SIGTERM)
            try:
                returncode = child.wait(timeout=CANCEL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                returncode = child.wait()
            break
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT_SECONDS:
            TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.RUNNING).update(
                heartbeat_at=timezone.now()
            )
            last_beat = now
        row = TrainingJob.objects.filter(pk=job.pk).values("status", "cancel_requested").first()
        if os.getppid() != parent:  # our worker process died under us (e.g. SIGKILL)
            child.kill()
            child.wait()
            _fail_unfinished(job, "The worker process died while this job was running.")
            return "worker-died"
        if row and (row["cancel_requested"] or row["status"] != TrainingJob.RUNNING):
            if term_sent_at is None:
                child.send_signal(signal.SIGTERM)
                term_sent_at = now
            elif now - term_sent_at > CANCEL_GRACE_SECONDS:
                child.kill()
        if on_tick:
            job.refresh_from_db()
            on_tick(job)
    job.refresh_from_db()
    if job.status == TrainingJob.RUNNING:
        if job.cancel_requested:
            TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.RUNNING).update(
                status=TrainingJob.CANCELLED,
                finished_at=timezone.now(),
                error="Cancelled while running; metrics so far are kept.",
            )
        elif returncode < 0:
            name = signal.Signals(-returncode).name
            _fail_unfinished(
                job,
                f"The job process was killed by {name}"
                + (" (out of memory?)." if name == "SIGKILL" else "."),
            )
        else:
            _fail_unfinished(
                job,
                f"The job process exited with code {returncode} without "
                "recording a result; see the job log.",
            )
    job.refresh_from_db()
    if on_tick:
        on_tick(job)
    return job.status


def _fail_unfinished(job: TrainingJob, reason: str) -> None:
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.RUNNING).update(
        status=TrainingJob.FAILED, finished_at=timezone.now(), error=reason
    )
