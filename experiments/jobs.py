"""What can be done to a training job: create (validated), enqueue, cancel, clone.

Web forms, the API and management commands all go through these functions.
"""

from __future__ import annotations

import math

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from workers.training.architectures import ARCHITECTURES, KERAS_BACKENDS

from .models import Dataset, TrainingJob
from .presets import preset_for

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
)


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
        "keras_backend": "tensorflow",
        "run_lr_finder": True,
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
        except (TypeError, ValueError):
            errors[name] = _("Must be a whole number.")
    for name in FLOAT_FIELDS:
        try:
            values[name] = float(values[name])
            if not math.isfinite(values[name]):
                raise ValueError
        except (TypeError, ValueError):
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
        check("max_batches", num("max_batches") >= 1, _("Must be at least 1 when given."))
    check(
        "keras_backend",
        values.get("keras_backend") in KERAS_BACKENDS,
        _("Keras backend must be one of %(choices)s.") % {"choices": ", ".join(KERAS_BACKENDS)},
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
    allowed = {f.name for f in TrainingJob._meta.get_fields()}
    return {k: v for k, v in values.items() if k in allowed}


def create_job(params: dict, user=None) -> TrainingJob:
    values = validate(params)
    return TrainingJob.objects.create(launched_by=user, **values)


def enqueue(job: TrainingJob) -> TrainingJob:
    """Send a queued job to the gpu queue once the row is committed."""
    from workers.tasks import run_training_job

    def send() -> None:
        result = run_training_job.apply_async(args=[job.pk], queue="gpu")
        TrainingJob.objects.filter(pk=job.pk, task_id="").update(task_id=result.id)

    transaction.on_commit(send)
    return job


def launch(params: dict, user=None) -> TrainingJob:
    with transaction.atomic():
        job = create_job(params, user)
        enqueue(job)
    return job


class ActionRefused(Exception):
    """The action does not apply to this job in its current state; the message says why."""


def cancel(job: TrainingJob) -> str:
    """Queued: cancelled at once (never starts). Running: flagged; its supervisor stops it."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise ActionRefused(
                _("Job #%(id)s has already %(status)s; nothing to cancel.")
                % {"id": job.pk, "status": job.get_status_display()}
            )
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
    + ["keras_backend"]
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
    return launch({**clone_params(job), **changes}, user)
