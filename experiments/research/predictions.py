"""Per-image predictions of finished jobs: store them, read them back, pair two runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from experiments.models import Prediction, TrainingJob
from experiments.research import statistics

CSV_COLUMNS = ["path", "label", "predicted", "correct"]


class PairingRefused(Exception):
    """The runs cannot be compared (or tried) image by image; the message says why."""


def store_predictions(
    job: TrainingJob,
    split: str,
    paths: Sequence[Path | str],
    labels: Sequence[int],
    probabilities: Sequence[Sequence[float]],
    classes: Sequence[str],
    root: Path,
) -> int:
    """Replace the job's predictions for `split` (a retry overwrites). Returns the count."""
    if len(paths) != len(labels) or len(paths) != len(probabilities):
        raise ValueError("paths, labels and probabilities must have the same length")
    rows = []
    for path, label, probs in zip(paths, labels, probabilities, strict=True):
        probs = [float(p) for p in probs]
        if len(probs) != len(classes):
            raise ValueError(f"{len(probs)} probabilities for {len(classes)} classes")
        best = max(range(len(probs)), key=probs.__getitem__)
        relative = Path(path)
        if relative.is_absolute():
            relative = relative.relative_to(root)
        rows.append(
            Prediction(
                job=job,
                split=split,
                path=relative.as_posix(),
                label=classes[int(label)],
                predicted=classes[best],
                probabilities=dict(zip(classes, probs, strict=True)),
            )
        )
    with transaction.atomic():
        Prediction.objects.filter(job=job, split=split).delete()
        Prediction.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def predictions_for(job: TrainingJob, split: str = Prediction.TEST) -> list[dict]:
    rows = Prediction.objects.filter(job=job, split=split).order_by("path")
    return [
        {"path": p, "label": label, "predicted": pred, "probabilities": probs}
        for p, label, pred, probs in rows.values_list("path", "label", "predicted", "probabilities")
    ]


def predictions_csv(job: TrainingJob, split: str = Prediction.TEST) -> str:
    """One line per image: path, label, predicted, correct, then one column per class."""
    rows = predictions_for(job, split)
    classes = list(job.evaluation.get("classes") or (rows[0]["probabilities"] if rows else []))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + [f"p_{c}" for c in classes])
    for row in rows:
        probs = row["probabilities"]
        writer.writerow(
            [row["path"], row["label"], row["predicted"], int(row["label"] == row["predicted"])]
            + [f"{probs.get(c, 0.0):.6f}" for c in classes]
        )
    return out.getvalue()


def _correct_by_path(job: TrainingJob, split: str) -> dict[str, bool]:
    rows = Prediction.objects.filter(job=job, split=split)
    return {p: label == pred for p, label, pred in rows.values_list("path", "label", "predicted")}


def paired_correctness(
    job_a: TrainingJob, job_b: TrainingJob, split: str = Prediction.TEST
) -> tuple[list[str], list[bool], list[bool]]:
    """The common images (sorted) and whether each run got each right; refuses mismatches."""
    if job_a.pk == job_b.pk:
        raise PairingRefused(_("Choose two different runs."))
    for job in (job_a, job_b):
        if job.status != TrainingJob.SUCCEEDED:
            raise PairingRefused(
                _("Run #%(id)s has not succeeded (%(status)s).")
                % {"id": job.pk, "status": job.get_status_display()}
            )
    if job_a.dataset_name != job_b.dataset_name or job_a.dataset_id != job_b.dataset_id:
        raise PairingRefused(
            _(
                "Run #%(a)s used dataset %(name_a)r and run #%(b)s used %(name_b)r: "
                "paired statistics need the same test images."
            )
            % {
                "a": job_a.pk,
                "name_a": job_a.dataset_name,
                "b": job_b.pk,
                "name_b": job_b.dataset_name,
            }
        )
    hash_a = (job_a.manifest or {}).get("dataset_manifest_hash")
    hash_b = (job_b.manifest or {}).get("dataset_manifest_hash")
    if hash_a and hash_b and hash_a != hash_b:
        raise PairingRefused(
            _(
                "Runs #%(a)s and #%(b)s saw different versions of dataset %(name)r "
                "(it was re-imported in between)."
            )
            % {"a": job_a.pk, "b": job_b.pk, "name": job_a.dataset_name}
        )
    a, b = _correct_by_path(job_a, split), _correct_by_path(job_b, split)
    for job, rows in ((job_a, a), (job_b, b)):
        if not rows:
            raise PairingRefused(
                _(
                    "Run #%(id)s has no stored %(split)s predictions (it finished before they "
                    "were recorded); clone it to run it again."
                )
                % {"id": job.pk, "split": split}
            )
    if set(a) != set(b):
        raise PairingRefused(
            _(
                "Runs #%(a)s and #%(b)s predicted different %(split)s images "
                "(%(n_a)s and %(n_b)s, %(common)s in common)."
            )
            % {
                "a": job_a.pk,
                "b": job_b.pk,
                "split": split,
                "n_a": len(a),
                "n_b": len(b),
                "common": len(set(a) & set(b)),
            }
        )
    paths = sorted(a)
    return paths, [a[p] for p in paths], [b[p] for p in paths]


def paired_comparison(job_a: TrainingJob, job_b: TrainingJob) -> dict:
    """Paired statistics of two runs on the same test images (experiments.research.statistics)."""
    _, correct_a, correct_b = paired_correctness(job_a, job_b)
    result = statistics.paired_statistics(correct_a, correct_b)
    return {"a": job_a.pk, "b": job_b.pk, **result}


def paired_block(jobs: list[TrainingJob]) -> dict | None:
    """The compare page's statistics when exactly two runs are compared, or why not."""
    if len(jobs) != 2:
        return None
    try:
        return {"stats": paired_comparison(jobs[0], jobs[1]), "error": ""}
    except PairingRefused as exc:
        return {"stats": None, "error": str(exc)}


# ------------------------------------------------------------------ trying a model on an image


def request_image_prediction(job: TrainingJob, image, source: str, user=None):
    """Store the (already checked) image as PNG and queue it on the `predict` queue."""
    import uuid

    from django.core.files.base import ContentFile

    from experiments.models import ImagePrediction
    from experiments.storage import artifacts

    if job.status != TrainingJob.SUCCEEDED or not job.evaluation.get("model_file"):
        raise PairingRefused(
            _("Run #%(id)s has no trained model to try (%(status)s).")
            % {"id": job.pk, "status": job.get_status_display()}
        )
    relative = f"predict/{uuid.uuid4().hex}/image.png"
    png = io.BytesIO()
    image.save(png, format="PNG")
    # The predict worker reads it from the "artifacts" storage, wherever that worker runs.
    artifacts().save(relative, ContentFile(png.getvalue(), name="image.png"))
    prediction = ImagePrediction.objects.create(
        job=job,
        image=relative,
        source=source[:500],
        created_by=user if user is not None and user.is_authenticated else None,
    )

    from experiments.background import PREDICTION, enqueue

    enqueue(PREDICTION, prediction)
    return prediction


def image_prediction_state(prediction) -> dict:
    from django.urls import reverse

    def url(kind: str) -> str:
        return reverse("experiments:image_prediction_file", args=[prediction.pk, kind])

    return {
        "id": prediction.pk,
        "job": prediction.job_id,
        "source": prediction.source,
        "status": prediction.status,
        "predicted": prediction.predicted,
        "probabilities": prediction.probabilities,
        "image_url": url("image"),
        "heatmap_url": url("heatmap") if prediction.heatmap else None,
        "seconds": prediction.seconds,
        "error": _(prediction.error.split("\n\n")[0]) if prediction.error else "",
    }
