"""Dataset pages: the list, one dataset's cleaning report and images, importing a server
folder or an uploaded zip, and an import's progress."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from experiments import storage
from experiments.datasets.forms import DatasetUploadForm, ImportForm
from experiments.datasets.importer import ImportRefused, check_allowed
from experiments.datasets.imports import import_state, queue_import, queued_message
from experiments.figures import runs as figures
from experiments.models import Dataset, DatasetImage, DatasetImport
from experiments.reasons import translate_reason
from experiments.roles import permission_for_action


def dataset_list(request: HttpRequest) -> HttpResponse:
    datasets = Dataset.objects.defer("report").order_by("name")
    return render(request, "experiments/dataset_list.html", {"datasets": datasets})


LIST_PAGE_SIZE = 100  # skipped files and duplicate groups: 25,000-image imports list many


def dataset_detail(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_object_or_404(Dataset, name=name)
    report = dataset.report
    duplicates = report.get("duplicates", {})
    lists = {
        key: Paginator(items, LIST_PAGE_SIZE).get_page(request.GET.get(f"{key}_page"))
        for key, items in (
            ("skipped", report.get("skipped", [])),
            ("cross", duplicates.get("cross_class", [])),
            ("within", duplicates.get("within_class", [])),
        )
    }
    return render(
        request,
        "experiments/dataset_detail.html",
        {
            "dataset": dataset,
            "report": report,
            "lists": lists,
            "figure": figures.dataset_class_counts(report),
        },
    )


@permission_for_action("experiments.import_dataset")
def dataset_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, initial={"preset": "default"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            check_allowed(Path(data["path"]))
        except ImportRefused as exc:
            form.add_error("path", translate_reason(str(exc)))
        else:  # the import runs on a worker; its page shows the progress
            record = queue_import(
                data["name"], data["path"], data["preset"], data["min_images"], request.user
            )
            notify = messages.warning if record.dispatched is False else messages.success
            notify(request, queued_message(record))
            return redirect(record)
    roots = [str(Path(r).resolve()) for r in settings.DATA_ROOTS]
    return render(request, "experiments/dataset_import.html", {"form": form, "roots": roots})


def dataset_image(request: HttpRequest, name: str) -> FileResponse:
    """An image of an imported dataset (top-loss thumbnails). Only files the import recorded."""
    dataset = get_object_or_404(Dataset, name=name)
    path = request.GET.get("path", "")
    image = DatasetImage.objects.filter(dataset=dataset, path=path).first()
    if image is None:
        raise Http404(_("No such image in this dataset."))
    return storage.download_response(
        storage.datasets(),
        storage.blob_key(image.sha256),
        content_type=mimetypes.guess_type(image.path)[0],
        missing=_("The image file is no longer stored."),
        redirect=False,
    )


@permission_for_action("experiments.import_dataset")
def dataset_upload(request: HttpRequest) -> HttpResponse:
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        record = queue_import(
            data["name"],
            "",
            data["preset"],
            data["min_images"],
            request.user,
            zip_file=data["archive"],
        )
        notify = messages.warning if record.dispatched is False else messages.success
        notify(request, queued_message(record))
        return redirect(record)
    limit_mb = settings.DATASET_UPLOAD_MAX_BYTES // 2**20
    return render(request, "experiments/dataset_upload.html", {"form": form, "limit_mb": limit_mb})


def dataset_import_status(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(DatasetImport.objects.select_related("dataset"), pk=pk)
    if request.GET.get("format") == "json":
        return JsonResponse(import_state(record))
    # Reasons are stored in English; shown in the visitor's language.
    items = [
        {**item, "reason": _(item.get("reason", ""))}
        for item in record.upload_report.get("skipped", [])
    ]
    skipped = Paginator(items, 100).get_page(request.GET.get("page"))
    record.error = _(record.error) if record.error else ""
    return render(
        request,
        "experiments/dataset_import_status.html",
        {"record": record, "state": import_state(record), "skipped": skipped},
    )
