"""Pages of the research features: predictions CSV, studies, the paired-statistics block."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import comparison, storage, studies, study_figures
from .dataset_imports import import_state, queue_import, queued_message
from .figure_store import StudyVersion, stored_study_figures_json
from .jobs import ActionRefused
from .models import DatasetImport, EpochMetric, ImagePrediction, Prediction, Study
from .predictions import predictions_csv
from .study_forms import StudyForm
from .upload_forms import DatasetUploadForm
from .views import _csv_response, _job_or_404, permission_for_action


def run_predictions_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    split = request.GET.get("split", Prediction.TEST)
    if split not in dict(Prediction.SPLITS):
        return HttpResponse(
            _("Unknown split: choose test or valid."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return _csv_response(predictions_csv(job, split), f"run-{job.pk}-{split}-predictions.csv")


# ------------------------------------------------------------------ studies


def study_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(Study.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "experiments/study_list.html", {"page": page})


@permission_for_action("experiments.launch_trainingjob")
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = studies.launch_study(form.grid(), request.user)
        except studies.StudyRejected as refused:
            for field, message in refused.errors.items():
                form.add_error(None, f"{field}: {message}")
        else:
            messages.success(
                request,
                _("Study #%(id)s queued: %(n)s jobs, longest first.")
                % {"id": study.pk, "n": study.jobs.count()},
            )
            return redirect(study)
    return render(request, "experiments/study_new.html", {"form": form})


def build_study_figures(study: Study, cells: list[dict]) -> dict:
    """The study's Plotly figures, built from its cells and its jobs' epochs."""
    jobs = dict(study.jobs.values_list("id", "epochs1"))
    metrics = list(
        EpochMetric.objects.filter(job_id__in=jobs).values_list(
            "job_id", "phase", "epoch", "valid_accuracy"
        )
    )
    return {
        "accuracy": study_figures.accuracy_by_cell(cells),
        "curves": study_figures.curves_by_cell(cells, metrics, jobs, _("valid accuracy")),
    }


def _study_figures(study: Study, cells: list[dict]) -> dict:
    """A finished study's figures are built once and stored; a live one's on every request."""
    version = StudyVersion.of(study)
    if version is None:
        return build_study_figures(study, cells)
    text = stored_study_figures_json(study, version, lambda: build_study_figures(study, cells))
    return json.loads(text)


def _study_state(study: Study) -> dict:
    summary = studies.summary(study)
    summary["figures"] = _study_figures(study, summary["cells"])
    return summary


def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    state = _study_state(study)
    return render(
        request,
        "experiments/study_detail.html",
        {"study": study, "state": state, "grid_json": json.dumps(study.grid, indent=1)},
    )


def study_live(request: HttpRequest, pk: int) -> JsonResponse:
    study = get_object_or_404(Study, pk=pk)
    return JsonResponse(studies.progress(study))


def study_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    if fmt == "csv":
        text = comparison.comparison_csv(studies.export_rows(study), studies.EXPORT_COLUMNS)
        return _csv_response(text, f"study-{study.pk}.csv")
    if fmt == "json":
        response = JsonResponse(studies.summary(study), json_dumps_params={"indent": 1})
        response["Content-Disposition"] = f'attachment; filename="study-{study.pk}.json"'
        return response
    return HttpResponse(
        _("Unknown format: choose csv or json."), status=404, content_type="text/plain"
    )


@require_POST
@permission_for_action("experiments.cancel_trainingjob")
def study_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    count = studies.cancel_study(study)
    messages.success(request, _("Cancelled %(n)s unfinished jobs of the study.") % {"n": count})
    return redirect(study)


@require_POST
@permission_for_action("experiments.launch_trainingjob")
def study_clone(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    try:
        clone = studies.clone_study(study, request.user)
    except (ActionRefused, studies.StudyRejected) as exc:
        messages.error(request, str(exc))
        return redirect(study)
    messages.success(request, _("Study #%(id)s queued (a clone).") % {"id": clone.pk})
    return redirect(clone)


@permission_for_action("experiments.launch_trainingjob")
def image_prediction_file(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    """The stored image of a "try the model" request, or its Grad-CAM overlay."""
    prediction = get_object_or_404(ImagePrediction, pk=pk)
    key = {"image": prediction.image, "heatmap": prediction.heatmap}.get(kind)
    return storage.download_response(
        storage.artifacts(),
        key or "",
        content_type="image/png",
        missing=_("This prediction has no such file."),
        redirect=False,
    )


# ------------------------------------------------------------------ dataset imports


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
