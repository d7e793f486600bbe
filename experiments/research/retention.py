"""Retention of "try the model" predictions (PREDICTION_RETENTION_DAYS; 0 keeps them forever).

A finished prediction (succeeded or failed) older than the retention is deleted with its files:
the stored image and the Grad-CAM heatmap in its own folder, MEDIA_ROOT/predict/<uuid>/, and
that folder once it is empty. Queued and running predictions are never deleted. A path that
resolves anywhere else (outside MEDIA_ROOT, or into another folder) is logged and left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from experiments.models import ImagePrediction

log = logging.getLogger("experiments.research.retention")
FINISHED = [ImagePrediction.SUCCEEDED, ImagePrediction.FAILED]


@dataclass
class Removed:
    """One prediction removed (or, in a dry run, that would be)."""

    id: int
    job: int
    status: str
    created_at: datetime
    files: list[str]  # relative to MEDIA_ROOT


@dataclass
class Pruned:
    removed: list[Removed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths or rows left alone, and why


def expired(days: int):
    """Finished predictions created more than `days` days ago, oldest first."""
    cutoff = timezone.now() - timedelta(days=days)
    return ImagePrediction.objects.filter(created_at__lt=cutoff, status__in=FINISHED).order_by(
        "created_at", "id"
    )


def prediction_files(prediction: ImagePrediction, media: Path):
    """(its folder or None, its files that exist, why other paths were skipped): all resolved,
    and only inside the prediction's own folder MEDIA_ROOT/predict/<one name>/."""
    root = (media / "predict").resolve()
    folder = (media / prediction.image).parent.resolve() if prediction.image else None
    if folder is None or folder.parent != root or not root.is_relative_to(media):
        return None, [], [f"prediction {prediction.pk}: {prediction.image!r} is not in {root}/*/"]
    image = Path(prediction.image)
    # The heatmap is written as heatmap.png beside the image, recorded or not.
    names = {prediction.image, prediction.heatmap, str(image.with_name("heatmap.png"))}
    files, skipped = [], []
    for name in sorted(n for n in names if n):
        path = (media / name).resolve()
        if path.parent != folder:
            skipped.append(f"prediction {prediction.pk}: {name!r} resolves outside {folder}")
        elif path.is_file():
            files.append(path)
    return folder, files, skipped


def prune_predictions(days: int | None = None, dry_run: bool = False) -> Pruned:
    """Delete finished predictions older than `days` (default PREDICTION_RETENTION_DAYS) and
    their files. Each row is locked, its files removed, then the row deleted: a row whose file
    cannot be removed stays (tried again next time); an already missing file is fine."""
    days = settings.PREDICTION_RETENTION_DAYS if days is None else days
    result = Pruned()
    if days <= 0:
        return result
    from experiments.storage import artifacts, is_local

    if not is_local(artifacts()):
        return _prune_stored(days, dry_run, result)
    media = Path(settings.MEDIA_ROOT).resolve()
    for pk in list(expired(days).values_list("pk", flat=True)):
        with transaction.atomic():
            # Locked and checked again: a row that changed since the listing is left alone.
            prediction = expired(days).select_for_update().filter(pk=pk).first()
            if prediction is None:
                continue
            folder, files, skipped = prediction_files(prediction, media)
            for reason in skipped:
                log.warning("not deleting: %s", reason)
            result.skipped += skipped
            removed = Removed(
                prediction.pk,
                prediction.job_id,
                prediction.status,
                prediction.created_at,
                [str(path.relative_to(media)) for path in files],
            )
            if dry_run or _remove(prediction, folder, files, result):
                result.removed.append(removed)
    return result


def _remove(prediction: ImagePrediction, folder: Path | None, files: list[Path], result) -> bool:
    """Remove the files, the folder if now empty, then the row; False (row kept) on an error."""
    try:
        for path in files:
            path.unlink(missing_ok=True)
    except OSError as exc:
        reason = f"prediction {prediction.pk} kept: {exc}"
        log.warning("could not delete a file: %s", reason)
        result.skipped.append(reason)
        return False
    if folder is not None:
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone: left as it is
            pass
    prediction.delete()
    return True


def _prune_stored(days: int, dry_run: bool, result: Pruned) -> Pruned:
    """The same on S3: the keys predict/<uuid>/{image,heatmap}.png of each expired row."""
    from experiments.storage import artifacts

    storage = artifacts()
    for pk in list(expired(days).values_list("pk", flat=True)):
        with transaction.atomic():
            prediction = expired(days).select_for_update().filter(pk=pk).first()
            if prediction is None:
                continue
            parts = Path(prediction.image).parts
            if len(parts) != 3 or parts[0] != "predict" or ".." in parts:
                result.skipped.append(f"prediction {pk}: {prediction.image!r} is not predict/*/")
                continue
            keys = [f"predict/{parts[1]}/{name}" for name in ("image.png", "heatmap.png")]
            removed = Removed(pk, prediction.job_id, prediction.status, prediction.created_at, keys)
            if not dry_run:
                try:
                    for key in keys:
                        storage.delete(key)
                except Exception as exc:  # the store unreachable: the row stays, tried next time
                    result.skipped.append(f"prediction {pk} kept: {exc}")
                    continue
                prediction.delete()
            result.removed.append(removed)
    return result
