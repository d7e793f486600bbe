"""Reporter that writes to the job's rows: one EpochMetric per (phase, epoch), progress, ETA.

A short database outage (a restart) does not fail the job: writes that fail are buffered and
sent with the next one (or by flush() at the end), and the cancel poll keeps its last answer.
Each batch touches JOB_PROGRESS_FILE so the supervisor can tell a slow job from a hung one.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

from django.db.models.functions import Now

from experiments.models import EpochMetric, TrainingJob
from workers.dbretry import DB_ERRORS, drop_connection, with_db_retry

logger = logging.getLogger("workers.job")
CANCEL_POLL_SECONDS = 2.0
PROGRESS_TOUCH_SECONDS = 1.0


class DbReporter:
    def __init__(self, job: TrainingJob, stop_signal=lambda: False):
        self.job = job
        self.stop_signal = stop_signal
        self.started = time.monotonic()
        self.epochs_done = 0
        self.epoch_seconds: list[float] = []
        self.phase_epoch_seconds: dict[int, list[float]] = {}
        self._last_poll = 0.0
        self._cancelled = False
        self._pending_fields: dict = {}
        self._pending_metrics: dict[tuple[int, int], dict] = {}
        progress = os.environ.get("JOB_PROGRESS_FILE")
        self._progress_file = Path(progress) if progress else None
        self._last_touch = 0.0
        self._touch_progress()  # set up: from now on the stall watchdog counts per batch

    # -- writes that survive a short outage

    def _update(self, **fields) -> None:
        self._pending_fields.update(fields)
        self._try_flush()

    def _try_flush(self) -> bool:
        try:
            self._flush_once()
            return True
        except DB_ERRORS as exc:
            drop_connection()
            logger.warning("job %s: database unreachable, buffering: %s", self.job.pk, exc)
            return False

    def _flush_once(self) -> None:
        for (phase, epoch), values in list(self._pending_metrics.items()):
            EpochMetric.objects.update_or_create(
                job=self.job, phase=phase, epoch=epoch, defaults=values
            )
            del self._pending_metrics[(phase, epoch)]
        if self._pending_fields:
            TrainingJob.objects.filter(pk=self.job.pk).update(**self._pending_fields)
            self._pending_fields.clear()

    def flush(self, block: bool = False) -> None:
        """Send what is buffered; with block=True wait out an outage (JOB_DB_OUTAGE_SECONDS)."""
        if block:
            with_db_retry(self._flush_once, "sending buffered metrics")
        else:
            self._try_flush()

    def _touch_progress(self) -> None:
        now = time.monotonic()
        if self._progress_file is None or now - self._last_touch < PROGRESS_TOUCH_SECONDS:
            return
        self._last_touch = now
        try:
            self._progress_file.touch()
        except OSError:
            pass

    # -- the Reporter interface

    def phase_started(self, phase: int, epochs: int, batches_per_epoch: int) -> None:
        self.log(f"phase {phase}: {epochs} epochs of {batches_per_epoch} batches")
        self._touch_progress()
        self._update(progress_phase=phase, heartbeat_at=Now())

    def batch_done(self) -> None:
        self._touch_progress()  # should_stop() is what the callbacks poll after each batch

    def epoch_done(
        self,
        phase,
        epoch,
        *,
        train_loss,
        valid_loss,
        valid_accuracy,
        learning_rate,
        seconds,
        images,
        train_seconds=None,
    ) -> None:
        pass_seconds = train_seconds or seconds  # images/s on the training pass only
        self._pending_metrics[(phase, epoch)] = {
            "train_loss": _finite(train_loss),
            "valid_loss": _finite(valid_loss),
            "valid_accuracy": _finite(valid_accuracy),
            "learning_rate": _finite(learning_rate),
            "seconds": seconds,
            "images_per_second": images / pass_seconds if pass_seconds > 0 else 0.0,
        }
        self.epochs_done += 1
        self.epoch_seconds.append(seconds)
        self.phase_epoch_seconds.setdefault(phase, []).append(seconds)
        eta = eta_by_phase(self.job, phase, epoch, seconds, self.phase_epoch_seconds)
        phase_key = str(phase)
        seconds_by_phase = dict(self.job.phase_seconds)
        seconds_by_phase[phase_key] = seconds_by_phase.get(phase_key, 0.0) + seconds
        self.job.phase_seconds = seconds_by_phase
        self._touch_progress()
        self._update(
            progress_epoch=self.epochs_done,
            eta_seconds=eta,
            phase_seconds=seconds_by_phase,
            heartbeat_at=Now(),  # database time (evaluated when sent), like the reaper compares
        )
        # The backend's callback logs the human-readable line for this epoch.

    def should_stop(self) -> bool:
        self._touch_progress()
        if self._cancelled or self.stop_signal():
            self._cancelled = True
            return True
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_SECONDS:
            self._last_poll = now
            try:
                if self._pending_fields or self._pending_metrics:
                    self._flush_once()
                self._cancelled = TrainingJob.objects.filter(
                    pk=self.job.pk, cancel_requested=True
                ).exists()
            except DB_ERRORS:
                drop_connection()  # keep training; ask again at the next poll
        return self._cancelled

    def lr_finder_done(self, phase, lrs, losses, suggestion) -> None:
        curve = {
            "phase": phase,
            "lrs": [float(x) for x in lrs],
            "losses": [_finite(x) for x in losses],
            "suggestion": _finite(suggestion),
        }
        self._update(lr_finder=curve)
        self.log(f"lr finder: suggestion {suggestion}")

    def log(self, message: str) -> None:
        logger.info("job %s: %s", self.job.pk, message)


def eta_by_phase(job, phase: int, epoch: int, seconds: float, by_phase: dict) -> float:
    """Seconds left, phase by phase: the rest of this phase at its recent epoch time, later
    phases at their own time once known, else at this phase's (a frozen body trains faster,
    so a phase-1 estimate of phase 2 errs short)."""
    recent = by_phase.get(phase, [seconds])[-5:]
    per_epoch = sum(recent) / len(recent)
    epochs = {1: job.epochs1, 2: job.epochs2}
    eta = max(epochs.get(phase, 0) - epoch, 0) * per_epoch
    for later in (p for p in epochs if p > phase):
        known = by_phase.get(later)
        eta += epochs[later] * (sum(known[-5:]) / len(known[-5:]) if known else per_epoch)
    return eta


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
