"""What can be done to a training job: create (validated), enqueue, cancel, clone.

Web forms, the API and management commands all go through these functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from experiments.architectures import ARCHITECTURES, KERAS_BACKENDS, PRECISIONS
from experiments.dispatch import TRAINING, publish, waiting_task_ids
from experiments.jobs.presets import preset_for
from experiments.models import Dataset, TrainingJob

logger = logging.getLogger(__name__)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024
MAX_BATCH, MAX_EPOCHS = 1024, 1000
FLOAT_FIELDS = ("weight_decay", "beta1", "beta2", "lr1", "lr2_low", "lr2_high")
INT_FIELDS = ("image_size", "batch_size", "epochs1", "epochs2", "seed", "max_batches")
BOOL_FIELDS = (
    "augmentation",
    "one_cycle",
    "discriminative_lr",
    "pretrained",
    "fair_mode",
    "run_lr_finder",
    "channels_last",
    "decode_cache",
    "compile",
    "deterministic",
)
# Speed settings (issue 7): the same defaults for both libraries.
SPEED_DEFAULTS = {
    "precision": "auto",
    "channels_last": True,
    "decode_cache": True,
    "compile": True,
    "deterministic": False,
}


# Job fields that are bookkeeping, never launch settings (a client cannot set them).
NOT_SETTINGS = {
    "idempotency_key", "idempotency_hash", "cloned_from", "cancelled_by", "workdir",
    "dispatched_at", "launched_by", "status", "cancel_requested", "error", "task_id",
    "process_id", "attempt", "worker_host",
    "started_at", "finished_at", "heartbeat_at", "evaluation", "manifest", "id",
}  # fmt: skip


class JobRejected(Exception):
    """Invalid job settings; `errors` maps each field to its message. Nothing was queued."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


def validate(params: dict) -> dict:
    """Fill the library's Table 4.1 preset, check every field, return clean values."""
    errors: dict[str, str] = {}
    library = params.get("library")
    if library not in ARCHITECTURES:
        raise JobRejected(
            {"library": _("Unknown library %(name)r: choose keras or fastai.") % {"name": library}}
        )
    # Pretrained by default (the thesis), except for the small CPU network, which has none.
    values = {
        **preset_for(library),
        "pretrained": params.get("architecture") != "small-cnn",
        "seed": 42,
        "max_batches": None,
        "keras_backend": "auto",
        "run_lr_finder": True,
        **SPEED_DEFAULTS,
    }
    values.update({k: v for k, v in params.items() if v is not None})
    values["library"] = library

    for name in INT_FIELDS:
        if values.get(name) is None:
            continue
        try:
            number = float(values[name])
            if not number.is_integer():
                raise ValueError
            values[name] = int(number)
        except (TypeError, ValueError, OverflowError):
            errors[name] = _("Must be a whole number.")
    for name in FLOAT_FIELDS:
        try:
            values[name] = float(values[name])
            if not math.isfinite(values[name]):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            errors[name] = _("Must be a number.")
    for name in BOOL_FIELDS:
        if not isinstance(values.get(name), bool):
            errors[name] = _("Must be true or false.")

    def check(name: str, ok: bool, message: str) -> None:
        if name not in errors and not ok:
            errors[name] = message

    def num(name: str, default: float = math.nan) -> float:
        """The field as a number; NaN (fails every range check) when it is not one."""
        value = values.get(name, default)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return value if is_number else math.nan

    arch = values.get("architecture")
    check(
        "architecture",
        arch in ARCHITECTURES[library],
        _("Unknown architecture %(arch)r for %(library)s; choose one of %(choices)s.")
        % {"arch": arch, "library": library, "choices": ", ".join(ARCHITECTURES[library])},
    )
    check(
        "image_size",
        MIN_IMAGE_SIZE <= num("image_size") <= MAX_IMAGE_SIZE,
        _("Image size must be between %(min)s and %(max)s pixels.")
        % {"min": MIN_IMAGE_SIZE, "max": MAX_IMAGE_SIZE},
    )
    check(
        "batch_size",
        1 <= num("batch_size") <= MAX_BATCH,
        _("Batch size must be between 1 and %(max)s.") % {"max": MAX_BATCH},
    )
    for name in ("epochs1", "epochs2"):
        check(
            name,
            1 <= num(name) <= MAX_EPOCHS,
            _("Epochs must be between 1 and %(max)s.") % {"max": MAX_EPOCHS},
        )
    for name in ("lr1", "lr2_low", "lr2_high"):
        check(name, 0 < num(name) <= 10, _("Learning rates must be above 0 and at most 10."))
    if "lr2_low" not in errors and "lr2_high" not in errors:
        check(
            "lr2_high",
            num("lr2_high") >= num("lr2_low"),
            _("The highest phase-2 rate must not be below the lowest."),
        )
    check(
        "weight_decay",
        0 <= num("weight_decay") < 1,
        _("Weight decay must be at least 0 and below 1."),
    )
    for name in ("beta1", "beta2"):
        check(name, 0 <= num(name) < 1, _("Adam betas must be at least 0 and below 1."))
    check("seed", 0 <= num("seed") < 2**31, _("Seed must be a non-negative integer."))
    if values.get("max_batches") is not None:
        check(
            "max_batches",
            1 <= num("max_batches") < 2**31,
            _("Must be at least 1 (and below 2147483648) when given."),
        )
    check(
        "keras_backend",
        values.get("keras_backend") in KERAS_BACKENDS,
        _("Keras backend must be one of %(choices)s.") % {"choices": ", ".join(KERAS_BACKENDS)},
    )
    check(
        "precision",
        values.get("precision") in PRECISIONS,
        _("Precision must be one of %(choices)s.") % {"choices": ", ".join(PRECISIONS)},
    )
    if library == "fastai":
        check("fair_mode", not values.get("fair_mode"), _("Fair mode is a Keras option."))
    if values.get("pretrained") and arch == "small-cnn":
        errors.setdefault(
            "pretrained", _("small-cnn has no pretrained weights; use random initialisation.")
        )

    dataset = params.get("dataset")
    if isinstance(dataset, str):
        dataset = Dataset.objects.filter(name=dataset).first()
        if dataset is None:
            errors["dataset"] = _(
                "No dataset named %(name)r. Import it first "
                "(manage.py import_dataset or the Datasets page)."
            ) % {"name": params.get("dataset")}
    elif dataset is None:
        errors["dataset"] = _("Choose a dataset.")
    if errors:
        raise JobRejected(errors)
    if values.get("fair_mode"):
        values["one_cycle"] = values["discriminative_lr"] = True
    values["dataset"] = dataset
    values["dataset_name"] = dataset.name
    allowed = {f.name for f in TrainingJob._meta.get_fields()} - NOT_SETTINGS
    return {k: v for k, v in values.items() if k in allowed}


def create_job(params: dict, user=None, **extra) -> TrainingJob:
    values = validate(params)
    return TrainingJob.objects.create(launched_by=user, **values, **extra)


def dispatch(job_id: int) -> bool:
    """Send the job's message to the gpu queue; False (logged) when the broker is unreachable.

    The job stays `queued` either way: the reconciler re-sends what never reached a worker.
    """
    try:
        task_id = publish(TRAINING, [job_id], queue="gpu")
    except Exception as exc:  # kombu/redis raise many types; any of them means "not sent"
        logger.warning("job %s: broker unreachable, left queued: %s", job_id, exc)
        return False
    TrainingJob.objects.filter(pk=job_id, status=TrainingJob.QUEUED).update(
        task_id=task_id, dispatched_at=Now()
    )
    return True


def enqueue(job: TrainingJob) -> TrainingJob:
    """Send a queued job to the gpu queue once the row is committed.

    Sets `job.dispatched` (True/False) once sent: False means the broker was down and the
    job will start when it is back (the reconciler re-sends it).
    """
    job.dispatched = None

    def send() -> None:
        job.dispatched = dispatch(job.pk)

    transaction.on_commit(send)
    return job


class IdempotencyKeyInvalid(Exception):
    """A malformed idempotency key (400): retrying with it could never be made safe."""


class IdempotencyKeyReused(Exception):
    """The key was used by this user for a different request (422)."""


IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def clean_idempotency_key(key) -> str | None:
    """A client's idempotency key: None when absent, else 8-64 of [A-Za-z0-9_-] (ASCII)."""
    if key is None or key == "":
        return None
    if isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key) and key.isascii():
        return key
    raise IdempotencyKeyInvalid(
        _("The idempotency key must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -.")
    )


def request_hash(params: dict) -> str:
    """SHA-256 of the launch settings as sent (datasets and jobs by name / id)."""

    def plain(value):
        if isinstance(value, Dataset):
            return value.name
        if isinstance(value, TrainingJob):
            return value.pk
        return value

    text = json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _repeat_of(user, key: str, digest: str) -> TrainingJob | None:
    """The job this user launched with this key, if any; refused if its request differed."""
    owner = user if user is not None and getattr(user, "is_authenticated", False) else None
    rows = TrainingJob.objects.filter(idempotency_key=key)
    existing = (rows.filter(launched_by=owner) if owner else rows.filter(launched_by=None)).first()
    if existing is None:
        return None
    if existing.idempotency_hash and existing.idempotency_hash != digest:
        raise IdempotencyKeyReused(
            _(
                "This idempotency key was already used for a different launch (job #%(id)s); "
                "use a new key for new settings."
            )
            % {"id": existing.pk}
        )
    existing.repeated = True
    return existing


def launch(params: dict, user=None, idempotency_key: str | None = None, **extra) -> TrainingJob:
    """Create and enqueue a job. A repeated idempotency key (same user, same request) returns
    the first job, not a copy; the same key with another request raises IdempotencyKeyReused,
    a malformed one IdempotencyKeyInvalid."""
    key = clean_idempotency_key(idempotency_key)
    digest = request_hash({**params, **extra}) if key else ""
    if key:
        existing = _repeat_of(user, key, digest)
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            job = create_job(params, user, idempotency_key=key, idempotency_hash=digest, **extra)
            enqueue(job)
    except IntegrityError:
        existing = _repeat_of(user, key, digest) if key else None
        if existing is None:
            raise
        return existing
    job.repeated = False
    return job


def launch_message(job: TrainingJob) -> str:
    """What to tell the user after a launch (localised)."""
    if getattr(job, "repeated", False):
        return _("Job #%(id)s was already launched with this form; not launched twice.") % {
            "id": job.pk
        }
    if getattr(job, "dispatched", True) is False:
        return _(
            "Job #%(id)s is saved but the job queue is unreachable; it will start "
            "automatically when the queue is back."
        ) % {"id": job.pk}
    return _("Job #%(id)s queued.") % {"id": job.pk}


def reconcile(now=None) -> list[int]:
    """Re-send every queued job that no worker claimed within JOB_RESEND_AFTER seconds.

    Whatever lost its message (a broker restart without persistence, a launch while the
    broker was down, a dropped delivery) it is sent again; claim() makes a second copy of a
    message harmless. On Redis, a job whose message is still waiting is not re-sent.
    """
    limit = Now() - timedelta(seconds=settings.JOB_RESEND_AFTER)
    candidates = TrainingJob.objects.filter(status=TrainingJob.QUEUED, cancel_requested=False)
    candidates = candidates.filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=limit))
    candidates = candidates.filter(created_at__lt=limit)
    # Oldest first: the order they were launched in.
    pending = list(candidates.order_by("created_at", "pk").values_list("pk", "task_id"))
    if not pending:
        return []
    waiting = waiting_task_ids()
    sent = []
    for pk, task_id in pending:
        if waiting is not None and task_id and task_id in waiting:
            # Still in the queue, behind other jobs: mark it seen so it is checked later.
            TrainingJob.objects.filter(pk=pk, status=TrainingJob.QUEUED).update(dispatched_at=Now())
            continue
        if dispatch(pk):
            sent.append(pk)
    if sent:
        logger.info("reconciler re-sent queued jobs %s", sent)
    return sent


class ActionRefused(Exception):
    """The action does not apply to this job in its current state; the message says why."""


def may_cancel(job: TrainingJob, user) -> bool:
    """JOBS_CANCEL_OWN_ONLY: only the launcher or staff may cancel (default: any researcher)."""
    if not settings.JOBS_CANCEL_OWN_ONLY or user is None:
        return True
    return bool(user.is_staff or (job.launched_by_id and job.launched_by_id == user.pk))


def cancel(job: TrainingJob, user=None) -> str:
    """Queued: cancelled at once (never starts). Running: flagged; its supervisor stops it."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise ActionRefused(
                _("Job #%(id)s has already %(status)s; nothing to cancel.")
                % {"id": job.pk, "status": job.get_status_display()}
            )
        if not may_cancel(job, user):
            raise ActionRefused(
                _("Only the researcher who launched job #%(id)s or staff may cancel it.")
                % {"id": job.pk}
            )
        if user is not None and getattr(user, "is_authenticated", False):
            job.cancelled_by = user
            job.save(update_fields=["cancelled_by"])
        if job.status == TrainingJob.QUEUED:
            job.status = TrainingJob.CANCELLED
            job.cancel_requested = True
            job.finished_at = timezone.now()
            # Stored in English; pages translate it when they show it.
            job.error = gettext_noop("Cancelled before it started.")
            job.save(update_fields=["status", "cancel_requested", "finished_at", "error"])
            return "cancelled"
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
        return "stopping"


CLONED_FIELDS = (
    ["library", "architecture"]
    + list(INT_FIELDS)
    + list(FLOAT_FIELDS)
    + list(BOOL_FIELDS)
    + ["keras_backend", "precision"]
)


def clone_params(job: TrainingJob) -> dict:
    params = {name: getattr(job, name) for name in CLONED_FIELDS}
    params["dataset"] = job.dataset
    return params


def clone(job: TrainingJob, user=None, **changes) -> TrainingJob:
    if job.dataset is None:
        raise ActionRefused(
            _(
                "Job #%(id)s used dataset %(name)r, which has been deleted; import it again "
                "before cloning."
            )
            % {"id": job.pk, "name": job.dataset_name}
        )
    return launch({**clone_params(job), **changes}, user, cloned_from=job)
