"""One life cycle for the background objects that are not training jobs: image predictions
and dataset imports (folder or zip upload).

Like a job, each is created even while the broker is down (it stays `queued`), is re-sent by
the reconciler when no worker took it (oldest first), and is failed with a reason when its
worker died (a deadline per kind; imports also by their progress stopping). Training jobs have
their own, richer version in experiments.jobs.actions and workers.supervisor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_noop

from experiments import dispatch
from experiments.models import DatasetImport, ImagePrediction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    model: type[models.Model]
    task: str
    queue: str
    # Running with no sign of life (predictions: since created; imports: since last progress).
    deadline_setting: str
    alive_field: str
    reason: str


PREDICTION = Kind(
    ImagePrediction,
    dispatch.PREDICTION,
    "predict",
    "PREDICTION_DEADLINE",
    "created_at",
    gettext_noop(
        "The prediction did not finish in time: its worker stopped (killed, out of memory "
        "or lost). Try the image again."
    ),
)
IMPORT = Kind(
    DatasetImport,
    dispatch.IMPORT,
    "default",
    "IMPORT_STALE_AFTER",
    "updated_at",
    gettext_noop(
        "The import stopped reporting progress: its worker stopped (killed, out of memory "
        "or lost). Start the import again."
    ),
)
KINDS = (PREDICTION, IMPORT)


def task_id(kind: Kind, pk: int) -> str:
    """One id per object, so the reconciler can see whether its message still waits."""
    return f"{kind.task.rsplit('.', 1)[-1]}-{pk}"


def send(kind: Kind, pk: int) -> bool:
    """Publish the object's message; False (logged) when the broker is unreachable."""
    try:
        dispatch.publish(kind.task, [pk], queue=kind.queue, task_id=task_id(kind, pk))
    except Exception as exc:  # kombu/redis raise many types; any of them means "not sent"
        logger.warning("%s %s: broker unreachable, left queued: %s", kind.task, pk, exc)
        return False
    return True


def enqueue(kind: Kind, obj) -> None:
    """Send once the row is committed; sets `obj.dispatched` (False: the broker was down, the
    reconciler sends it later)."""
    obj.dispatched = None

    def publish() -> None:
        obj.dispatched = send(kind, obj.pk)

    transaction.on_commit(publish)


def reconcile() -> dict[str, list[int]]:
    """Re-send queued objects older than JOB_RESEND_AFTER whose message is not waiting on the
    broker, oldest first. A second delivery is harmless: each worker claims the row first."""
    limit = Now() - timedelta(seconds=settings.JOB_RESEND_AFTER)
    sent: dict[str, list[int]] = {}
    for kind in KINDS:
        pending = list(
            kind.model.objects.filter(status="queued", created_at__lt=limit)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
        )
        if not pending:
            continue
        waiting = dispatch.waiting_task_ids(kind.queue)
        for pk in pending:
            if waiting is not None and task_id(kind, pk) in waiting:
                continue
            if send(kind, pk):
                sent.setdefault(kind.task, []).append(pk)
    if sent:
        logger.info("reconciler re-sent %s", sent)
    return sent


def reap(now=None) -> int:
    """Fail what a dead worker left behind: predictions past PREDICTION_DEADLINE since they
    were created (queued or running), imports running with no progress for
    IMPORT_STALE_AFTER. The reason is stored in English; pages translate it."""
    reaped = 0
    for kind in KINDS:
        seconds = float(getattr(settings, kind.deadline_setting))
        limit = (now or timezone.now()) - timedelta(seconds=seconds)
        statuses = ["queued", "running"] if kind is PREDICTION else ["running"]
        rows = kind.model.objects.filter(status__in=statuses, **{f"{kind.alive_field}__lt": limit})
        reaped += rows.update(status="failed", error=kind.reason)
    return reaped


def touch_import(rows) -> None:
    """An import's sign of life (progress also moves updated_at, which update() skips)."""
    rows.update(updated_at=Now())
