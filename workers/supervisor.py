"""Runs a job's child process and watches it: heartbeat, cancel, crash, worker death.

Called by the Celery task (workers.tasks.run_training_job) and by `manage.py train`, so both
take the same path. The database decides whether a job may start: a message delivered twice
never starts a second copy of a job that is running (fresh heartbeat) or finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from experiments.models import TrainingJob

from .dbretry import DB_ERRORS, drop_connection, with_db_retry
from .heartbeat import set_current_job

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5
STALE_AFTER_SECONDS = 30  # default of settings.JOB_STALE_AFTER
WORKER_ALIVE_MARGIN = 25  # > 2 worker heartbeat intervals (workers.heartbeat)
CANCEL_GRACE_SECONDS = 20  # SIGTERM, then SIGKILL if the job has not stopped
ROOT = Path(__file__).resolve().parent.parent


def claim(job_id: int, task_id: str, hostname: str) -> TrainingJob | None:
    """Mark a queued job running for this worker; None if it must not run here.

    The database unreachable: retried with backoff, then DatabaseUnavailable (the caller keeps
    the message for later instead of acknowledging and dropping it).
    """
    with_db_retry(reap_stale_jobs, "reaping stale jobs")
    return with_db_retry(lambda: _claim(job_id, task_id, hostname), f"claiming job {job_id}")


def _claim(job_id: int, task_id: str, hostname: str) -> TrainingJob | None:
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
        job.started_at = now
        job.heartbeat_at = Now()
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
        job.refresh_from_db(fields=["heartbeat_at"])
        return job


def reap_stale_jobs(now=None) -> int:
    """Policy: a running job whose heartbeat stopped is failed (not requeued), with a reason.
    Requeueing a half-trained job would silently mix two runs; a clone starts it cleanly.

    Heartbeats are written and compared in database time (no clock skew between hosts). Just
    after a database restart nothing is reaped: supervisors get JOB_STALE_AFTER to reconnect.
    """
    from experiments.models import WorkerHeartbeat

    stale_after = settings.JOB_STALE_AFTER
    window = timedelta(seconds=stale_after)
    if database_restarted_within(window):
        return 0
    limit = Now() - window if now is None else now - window
    stale = list(
        TrainingJob.objects.filter(status=TrainingJob.RUNNING, heartbeat_at__lt=limit).values_list(
            "pk", "worker_host", "heartbeat_at"
        )
    )
    if not stale:
        return 0
    workers = {
        host: (seen, current, slots)
        for host, seen, current, slots in WorkerHeartbeat.objects.filter(
            hostname__in={host for _, host, _ in stale}
        ).values_list("hostname", "last_seen", "current_job_id", "job_slots")
    }
    reaped = 0
    for pk, host, beat in stale:
        seen, current, slots = workers.get(host, (None, None, 1))
        # The worker kept reporting itself well after the job's last heartbeat, and still says
        # it runs this job (or runs several): alive, the job hung. A worker restarted under the
        # same name reports no job, or its new one: the job's worker died.
        alive = seen and beat and seen > beat + timedelta(seconds=WORKER_ALIVE_MARGIN)
        if alive and (current == pk or (slots > 1 and current is not None)):
            reason = (
                f"No heartbeat for over {stale_after:.0f} s although its worker ({host}) is "
                "still running: the job's supervisor stopped reporting (hung). Metrics up to "
                "then are kept; clone the job to run it again."
            )
        else:
            reason = (
                f"No heartbeat for over {stale_after:.0f} s: the worker running this job died "
                "(killed, out of memory or lost). Metrics up to then are kept; clone the job "
                "to run it again."
            )
        reaped += TrainingJob.objects.filter(
            pk=pk, status=TrainingJob.RUNNING, heartbeat_at__lt=limit
        ).update(status=TrainingJob.FAILED, finished_at=timezone.now(), error=reason)
    return reaped


def database_restarted_within(window: timedelta) -> bool:
    """PostgreSQL only: did the server start less than `window` ago (database time)?"""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - pg_postmaster_start_time() < %s", [window])
        return bool(cursor.fetchone()[0])


def supervise(
    job_id: int,
    task_id: str = "",
    hostname: str = "",
    on_tick: Callable[[TrainingJob], None] | None = None,
) -> str:
    """Claim the job, run its child and watch it. Raises DatabaseUnavailable (from claim)
    when the database cannot be reached: the caller keeps the message."""
    from .training import storage

    hostname = hostname or socket.gethostname()
    job = claim(job_id, task_id, hostname)
    if job is None:
        return "skipped"
    try:
        workdir = storage.new_job_folder(job)
        storage.check_free_space(workdir, "starting the job")
    except storage.StorageError as exc:
        reason = str(exc)
        with_db_retry(lambda: _fail_unfinished(job, reason), "failing the job")
        return TrainingJob.FAILED
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # The child uses exactly this process's database and file locations.
        "DATABASE_URL": current_database_url(),
        **storage.child_env(),
        "JOB_PROGRESS_FILE": str(workdir / storage.PROGRESS_FILE),
        **storage.thread_env(),
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    parent = os.getppid()
    with (workdir / storage.LOG_FILE).open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "workers.training.runner", str(job.pk)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=storage.lower_priority(),
        )
        with_db_retry(
            lambda: TrainingJob.objects.filter(pk=job.pk).update(process_id=child.pid),
            "recording the job's process",
        )
        _quietly(lambda: set_current_job(hostname, job.pk))
        try:
            outcome = _watch(job, child, parent, on_tick, workdir / storage.PROGRESS_FILE)
        finally:
            _quietly(lambda: set_current_job(hostname, None))
    storage.store_log_and_clean(job)  # S3: the log joins the model under the job's prefix
    return outcome


def _quietly(func) -> bool:
    """Run a database write that may be skipped during an outage (True if it happened)."""
    try:
        func()
        return True
    except DB_ERRORS:
        drop_connection()
        return False


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


@contextlib.contextmanager
def _ctrl_c_noted():
    """While a job is watched in the foreground (`manage.py train`), Ctrl-C only sets a flag
    that the watch loop reads once a second, so it cancels the job wherever the loop was (a
    KeyboardInterrupt raised inside a database write would end the command instead). A
    process that does not take Ctrl-C as KeyboardInterrupt (a Celery pool child) is left as
    it is."""
    interrupted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch(
    job: TrainingJob, child: subprocess.Popen, parent: int, on_tick, progress_file: Path
) -> str:
    with _ctrl_c_noted() as interrupted:
        return _watch_child(job, child, parent, on_tick, progress_file, interrupted)


def _watch_child(
    job: TrainingJob,
    child: subprocess.Popen,
    parent: int,
    on_tick,
    progress_file: Path,
    interrupted: list[int],
) -> str:
    last_beat = 0.0
    started = time.time()
    term_sent_at = None
    db_down_since = None
    reason = ""  # set when the supervisor itself ends the job (outage, hung child)
    while True:
        try:
            returncode = child.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        if interrupted:  # Ctrl-C on `manage.py train`: cancel, keep what was done
            _quietly(lambda: TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True))
            child.send_signal(signal.SIGTERM)
            try:
                returncode = child.wait(timeout=CANCEL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                returncode = child.wait()
            break
        now = time.monotonic()
        if os.getppid() != parent:  # our worker process died under us (e.g. SIGKILL)
            child.kill()
            child.wait()
            with_db_retry(
                lambda: _end_unfinished(job, "The worker process died while this job was running."),
                "ending the job",
            )
            return "worker-died"
        try:
            if now - last_beat >= HEARTBEAT_SECONDS:
                TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.RUNNING).update(
                    heartbeat_at=Now()
                )
                last_beat = now
            row = TrainingJob.objects.filter(pk=job.pk).values("status", "cancel_requested").first()
            if db_down_since is not None:
                logger.info("job %s: database back after %.0f s", job.pk, now - db_down_since)
            db_down_since = None
        except DB_ERRORS:
            drop_connection()
            row = None
            db_down_since = db_down_since or now
            if now - db_down_since > settings.JOB_DB_OUTAGE_SECONDS and not reason:
                reason = (
                    f"The database was unreachable for over {settings.JOB_DB_OUTAGE_SECONDS:.0f} "
                    "s, so the job was stopped (its results could not be recorded)."
                )
                child.kill()
        stalled, limit = _stalled_for(progress_file, started)
        if not reason and stalled > limit:
            reason = (
                f"The job made no progress for {stalled:.0f} s (a hung data loader or "
                "device?), so it was killed. Metrics up to then are kept."
            )
            logger.warning("job %s: %s", job.pk, reason)
            child.kill()
        if row and (row["cancel_requested"] or row["status"] != TrainingJob.RUNNING):
            if term_sent_at is None:
                child.send_signal(signal.SIGTERM)
                term_sent_at = now
            elif now - term_sent_at > CANCEL_GRACE_SECONDS:
                child.kill()
        if on_tick and row is not None:
            _quietly(job.refresh_from_db)
            on_tick(job)
    return with_db_retry(
        lambda: _record_exit(job, returncode, reason, on_tick, stopped=term_sent_at is not None),
        "recording the job's end",
    )


def _stalled_for(progress_file: Path, started: float) -> tuple[float, float]:
    """(seconds without progress, the limit that applies). The child touches the file once
    set up and then per batch; before its first touch, JOB_START_SECONDS applies (imports and
    loading data on a busy host can be slow; that is not a hang)."""
    try:
        return time.time() - progress_file.stat().st_mtime, settings.JOB_STALL_SECONDS
    except OSError:
        return time.time() - started, max(settings.JOB_START_SECONDS, settings.JOB_STALL_SECONDS)


def _record_exit(
    job: TrainingJob, returncode: int, reason: str, on_tick, stopped: bool = False
) -> str:
    """`stopped`: this supervisor signalled the child for a cancel. Whatever the child then
    recorded on its way out (a fastai job whose loader workers got the signal first fails
    with "DataLoader worker exited unexpectedly") the job was cancelled, not failed."""
    job.refresh_from_db()
    if stopped and job.cancel_requested and job.status == TrainingJob.FAILED:
        mark_cancelled([job.pk], CANCELLED_RUNNING, statuses=(TrainingJob.FAILED,))
    elif job.status == TrainingJob.RUNNING:
        if reason:
            _fail_unfinished(job, reason)
        elif job.cancel_requested:
            mark_cancelled([job.pk], CANCELLED_RUNNING)
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


CANCELLED_RUNNING = "Cancelled while running; metrics so far are kept."


def _end_unfinished(job: TrainingJob, reason: str) -> None:
    """The job's process was killed from outside: a cancel (or a deadline, which asks for
    one first) when one was requested, else a failure."""
    if TrainingJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
        mark_cancelled([job.pk], CANCELLED_RUNNING)
    else:
        _fail_unfinished(job, reason)


def mark_cancelled(
    job_ids, message: str, statuses: tuple[str, ...] = (TrainingJob.QUEUED, TrainingJob.RUNNING)
) -> int:
    """Record jobs stopped on purpose (a cancel, a deadline) as cancelled, with `message`.
    Also for a caller that killed the jobs' worker itself: its supervisors record nothing."""
    return TrainingJob.objects.filter(pk__in=list(job_ids), status__in=statuses).update(
        status=TrainingJob.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        error=message,
    )
