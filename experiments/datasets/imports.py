"""Dataset imports in the background: queue one (a server folder or an uploaded zip), run it
with a progress count the page polls, record the outcome."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db.models.functions import Now
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from experiments.background import IMPORT, enqueue, touch_import
from experiments.datasets.importer import PRESETS, ImportOptions, ImportRefused, import_dataset
from experiments.datasets.uploads import UploadRefused, extract_dataset_zip
from experiments.models import DatasetImport
from experiments.reasons import translate_reason
from experiments.storage import fetch_file, uploads

UNEXPECTED = gettext_noop(
    "The import failed unexpectedly (%(kind)s); the server log has the detail."
)
PROGRESS_STEPS = 200  # database writes per import, whatever its size


def queue_import(
    name: str, path: str, preset: str, min_images: int | None = None, user=None, zip_file=None
) -> DatasetImport:
    """Create the import row and send it to the default queue once committed. With
    `zip_file` (an uploaded file), it is first stored under DATASET_UPLOAD_ROOT."""
    upload_report = {}
    if zip_file is not None:
        # Kept in the "uploads" storage: the import may run on another host than this one.
        key = uploads().save(f"{uuid.uuid4().hex}.zip", zip_file)
        path = str(Path(settings.DATASET_UPLOAD_ROOT) / f"{name}-{uuid.uuid4().hex[:8]}")
        upload_report = {"zip_key": key, "name": zip_file.name[:200]}
    record = DatasetImport.objects.create(
        name=name,
        path=path,
        preset=preset,
        min_images=min_images,
        upload_report=upload_report,
        created_by=user if user is not None and user.is_authenticated else None,
    )

    enqueue(IMPORT, record)
    return record


def queued_message(record) -> str:
    """What to tell the user after queueing an import (localised)."""
    if getattr(record, "dispatched", True) is False:
        return _(
            "The import is saved but the job queue is unreachable; it will start "
            "automatically when the queue is back."
        )
    return _("The import is queued.")


def run_import(import_id: int) -> str:
    """The task's body: extract (zip uploads), import with progress, record the outcome."""
    rows = DatasetImport.objects.filter(pk=import_id)
    # Claimed by one worker only: a re-sent copy of the message finds it running and stops.
    if not rows.filter(status=DatasetImport.QUEUED).update(
        status=DatasetImport.RUNNING, updated_at=Now()
    ):
        return "skipped"
    record = rows.first()
    options = PRESETS.get(record.preset, PRESETS["default"])
    if record.min_images is not None:
        options = ImportOptions(**{**options.__dict__, "min_images_per_class": record.min_images})
    last = {"step": -1}

    def progress(done: int, total: int) -> None:
        step = done * PROGRESS_STEPS // max(total, 1)
        if step != last["step"] or done == total:
            last["step"] = step
            rows.update(done=done, total=total, updated_at=Now())

    zip_key = record.upload_report.get("zip_key")
    zip_path = record.upload_report.get("zip")  # queued before the uploads storage existed
    try:
        if zip_key:
            zip_path = _fetch_upload(zip_key)
        if zip_path:
            report = extract_dataset_zip(
                Path(zip_path), Path(record.path), alive=lambda: touch_import(rows)
            )
            rows.update(upload_report={**record.upload_report, **report.as_dict()})
        result = import_dataset(record.path, record.name, options, record.preset, progress)
    except (ImportRefused, UploadRefused) as exc:
        rows.update(status=DatasetImport.FAILED, error=str(exc))
        if zip_path:
            shutil.rmtree(record.path, ignore_errors=True)
        return "failed"
    except Exception as exc:  # recorded for the page (no server paths); the log has the detail
        rows.update(status=DatasetImport.FAILED, error=UNEXPECTED % {"kind": type(exc).__name__})
        if zip_path:
            shutil.rmtree(record.path, ignore_errors=True)
        raise
    finally:
        if zip_path:
            Path(zip_path).unlink(missing_ok=True)
        if zip_key:
            uploads().delete(zip_key)
    rows.update(status=DatasetImport.SUCCEEDED, dataset=result.dataset)
    return "succeeded"


def _fetch_upload(key: str) -> Path:
    """The uploaded zip as a local file of this host (removed after the import)."""
    incoming = Path(settings.DATASET_UPLOAD_ROOT) / ".incoming"
    return fetch_file(uploads(), key, incoming / Path(key).name)


def import_state(record: DatasetImport) -> dict:
    return {
        "id": record.pk,
        "name": record.name,
        "status": record.status,
        "status_label": record.get_status_display(),
        "done": record.done,
        "total": record.total,
        "percent": record.percent,
        # messages of the life cycle are in the catalogue; the importer's are patterns
        "error": translate_reason(_(record.error)) if record.error else "",
        "dataset_url": record.dataset.get_absolute_url() if record.dataset_id else None,
        "skipped_members": len(record.upload_report.get("skipped", [])),
    }
