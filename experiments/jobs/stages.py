"""What a run is doing now, in words, from what the worker already records on the job's row.

No extra reporting: the stages are read off the fields the runner and its reporter set —
`started_at` (the worker took it), `device` (the libraries are loaded: the backend named its
device), `lr_finder` (the learning-rate finder is done), `progress_phase` / `progress_epoch`
(training) and `phase_seconds` (time spent training each phase).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from experiments.models import TrainingJob

WAITING, LOADING, PREPARING, LR_FINDER, PHASE1, PHASE2, EVALUATING, FINISHED = (
    "waiting",
    "loading",
    "preparing",
    "lr_finder",
    "phase1",
    "phase2",
    "evaluating",
    "finished",
)


def current_stage(job: TrainingJob) -> str:
    if job.is_finished:
        return FINISHED
    if job.status == TrainingJob.QUEUED or job.started_at is None:
        return WAITING
    if not job.device:
        return LOADING
    if job.progress_epoch >= job.total_epochs and job.total_epochs:
        return EVALUATING
    if job.progress_phase == 2:
        return PHASE2
    if job.progress_phase == 1:
        return PHASE1
    if job.run_lr_finder and not job.lr_finder:
        return LR_FINDER
    return PREPARING


def stage_labels() -> dict[str, str]:
    return {
        WAITING: _("Waiting for the training slot"),
        LOADING: _("Loading the libraries"),
        PREPARING: _("Preparing the data and the model"),
        LR_FINDER: _("Finding the learning rate"),
        PHASE1: _("Training phase 1 of 2 (body frozen)"),
        PHASE2: _("Training phase 2 of 2 (whole network)"),
        EVALUATING: _("Evaluating on the test images"),
        FINISHED: _("Finished"),
    }


def queue_position(job: TrainingJob) -> dict | None:
    """While queued: how many runs are ahead of this one, and which one is training now."""
    if job.status != TrainingJob.QUEUED:
        return None
    ahead = TrainingJob.objects.filter(
        status=TrainingJob.QUEUED, created_at__lt=job.created_at
    ).count()
    running = list(
        TrainingJob.objects.filter(status=TrainingJob.RUNNING).values_list("pk", flat=True)[:5]
    )
    return {"ahead": ahead, "position": ahead + 1, "running": running}


def stage_state(job: TrainingJob, now: datetime | None = None) -> dict:
    """The stage, its label, the seconds the run has spent so far in each stage we can time."""
    now = now or timezone.now()
    stage = current_stage(job)
    labels = stage_labels()
    spent: list[dict] = []
    waited_until = job.started_at or (None if job.is_finished else now)
    if waited_until is not None:
        spent.append({"stage": WAITING, "seconds": (waited_until - job.created_at).total_seconds()})
    if stage == LOADING:
        spent.append({"stage": LOADING, "seconds": (now - job.started_at).total_seconds()})
    for phase, key in ((1, PHASE1), (2, PHASE2)):
        seconds = (job.phase_seconds or {}).get(str(phase))
        if seconds:
            spent.append({"stage": key, "seconds": float(seconds)})
    for item in spent:
        item["label"] = labels[item["stage"]]
        item["text"] = _("%(stage)s: %(time)s") % {
            "stage": item["label"],
            "time": duration_text(item["seconds"]),
        }
    queue = queue_position(job)
    return {
        "stage": stage,
        "label": labels[stage],
        "spent": spent,
        "queue": queue,
        "queue_text": queue_text(queue),
    }


def queue_text(queue: dict | None) -> str:
    if queue is None:
        return ""
    if queue["ahead"] == 0 and not queue["running"]:
        return _("Next in line: a worker takes it as soon as one is free.")
    text = _("Position %(position)s in the queue (%(ahead)s ahead).") % queue
    if queue["running"]:
        runs = ", ".join(f"#{pk}" for pk in queue["running"])
        text += " " + _("Training now: run %(runs)s.") % {"runs": runs}
    return text


def duration_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
    return _("%(s)s s") % {"s": secs}
