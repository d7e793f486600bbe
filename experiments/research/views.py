"""Research pages: comparing runs, Table 4.2 beside the thesis, reproducing it, studies,
per-image predictions (CSV) and "try the model" images."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from experiments import storage
from experiments.architectures import LABELS, THESIS_ARCHITECTURES
from experiments.figures import runs as figures
from experiments.figures import studies as study_figures
from experiments.figures.store import StudyVersion, stored_study_figures_json
from experiments.jobs.actions import ActionRefused
from experiments.jobs.views import job_or_404
from experiments.models import Dataset, EpochMetric, ImagePrediction, Prediction, Study, TrainingJob
from experiments.research import comparison, studies
from experiments.research.forms import ReproduceForm, StudyForm
from experiments.research.predictions import paired_block, predictions_csv
from experiments.research.studies import StudyRejected, launch_study
from experiments.roles import permission_for_action
from experiments.validation import is_db_id


def run_predictions_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = job_or_404(pk)
    split = request.GET.get("split", Prediction.TEST)
    if split not in dict(Prediction.SPLITS):
        return HttpResponse(
            _("Unknown split: choose test or valid."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return csv_response(predictions_csv(job, split), f"run-{job.pk}-{split}-predictions.csv")


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
        return csv_response(text, f"study-{study.pk}.csv")
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


@permission_for_action("experiments.launch_trainingjob")
def reproduce(request: HttpRequest) -> HttpResponse:
    """Queue the thesis's 12 runs (6 architectures x 2 libraries, Table 4.1 presets) per seed,
    as a study."""
    form = ReproduceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        grid = {
            "name": _("Reproduce Table 4.2"),
            "dataset": data["dataset"],
            "libraries": ["keras", "fastai"],
            "architectures": THESIS_ARCHITECTURES,
            "seeds": list(range(data["seed"], data["seed"] + (data["seeds"] or 1))),
            "base": {
                "image_size": data["image_size"],
                "pretrained": data["pretrained"],
                "max_batches": data["max_batches"],
                "epoch_scale": data["epoch_scale"],
            },
        }
        try:
            study = launch_study(grid, request.user)
        except StudyRejected as refused:
            for field, message in refused.errors.items():
                form.add_error(None, f"{field}: {message}")
            return render(request, "experiments/reproduce.html", {"form": form})
        messages.success(
            request,
            _("Queued %(n)s jobs: the thesis's Table 4.2 runs, longest first.")
            % {"n": study.jobs.count()},
        )
        return redirect(study)
    return render(request, "experiments/reproduce.html", {"form": form})


def _selected_ids(request: HttpRequest) -> list[int]:
    raw = request.GET.getlist("runs") + ",".join(request.GET.getlist("ids")).split(",")
    ids = []
    for value in raw:
        for part in str(value).split(","):
            if is_db_id(part.strip()):
                ids.append(int(part))
    return list(dict.fromkeys(ids))[:50]


def compare(request: HttpRequest) -> HttpResponse:
    ids = _selected_ids(request)
    jobs = list(
        comparison.with_final_metrics(TrainingJob.objects.filter(pk__in=ids)).order_by("id")
    )
    missing = sorted(set(ids) - {j.pk for j in jobs})
    metrics_by_job: dict[int, list] = {j.pk: [] for j in jobs}
    for metric in EpochMetric.objects.filter(job_id__in=metrics_by_job):
        metrics_by_job[metric.job_id].append(metric)
    if request.GET.get("format") == "csv":
        if not jobs:
            return HttpResponse(
                _("Choose at least one run to export."),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return csv_response(comparison.runs_csv(jobs), "runs.csv")
    runs = [
        (
            f"#{j.pk} {j.library} {LABELS.get(j.architecture, j.architecture)}",
            metrics_by_job[j.pk],
            j.epochs1,
        )
        for j in jobs
    ]
    context = {
        "jobs": jobs,
        "missing": missing,
        "groups": comparison.group_stats(jobs),
        "paired": paired_block(jobs),
        "ids": ",".join(str(j.pk) for j in jobs),
        "figures": {
            "valid_loss": figures.overlay_runs(runs, "valid_loss"),
            "valid_accuracy": figures.overlay_runs(runs, "valid_accuracy"),
        }
        if jobs
        else {},
        "labels": LABELS,
    }
    return render(request, "experiments/compare.html", context)


def table_4_2(request: HttpRequest) -> HttpResponse:
    dataset = request.GET.get("dataset") or ""
    # Only what the table reads: the JSON columns (manifest, evaluation...) are large.
    jobs = TrainingJob.objects.only(
        "id",
        "library",
        "architecture",
        "status",
        "finished_at",
        "created_at",
        "phase_seconds",
        "epochs1",
        "epochs2",
        "dataset_name",
        "seed",
    )
    if dataset:
        jobs = jobs.filter(dataset_name=dataset)
    rows = comparison.table_4_2(jobs)
    if request.GET.get("format") == "csv":
        return csv_response(
            comparison.comparison_csv(rows, comparison.TABLE_4_2_COLUMNS), "table-4-2.csv"
        )
    datasets = Dataset.objects.values_list("name", flat=True)
    return render(
        request,
        "experiments/table_4_2.html",
        {
            "rows": rows,
            "dataset": dataset,
            "datasets": datasets,
            "labels": LABELS,
        },
    )


def csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
