"""Researcher pages: datasets, launching, runs, one run live, comparisons, workers.

Anyone may read results; actions need the Researchers group's permissions (anonymous users are
sent to log in, logged-in users without the permission get 403).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from datetime import timedelta
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, FloatField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Now
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import comparison, figures, storage
from .architectures import LABELS, THESIS_ARCHITECTURES
from .dataset_imports import queue_import, queued_message
from .figure_store import RunVersion, stored_figures_json
from .forms import ImportForm, LaunchForm, ReproduceForm, RunFilterForm, launch_initial
from .importer import (
    ImportRefused,
    check_allowed,
)
from .jobs import (
    ActionRefused,
    IdempotencyKeyReused,
    cancel,
    clone_params,
    launch,
    launch_message,
)
from .models import Dataset, DatasetImage, EpochMetric, TrainingJob, WorkerHeartbeat
from .predictions import paired_block
from .presets import TABLE_4_1
from .reasons import translate_reason
from .run_stages import stage_state
from .storage import job_prefix
from .studies import StudyRejected, launch_study
from .validation import is_db_id

LIST_FIELDS = [
    "id",
    "library",
    "architecture",
    "dataset_name",
    "status",
    "created_at",
    "finished_at",
    "epochs1",
    "epochs2",
    "progress_epoch",
    "seed",
    "image_size",
]


def permission_for_action(perm: str):
    """Anonymous: to the login page. Logged in without the permission: 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(perm):
                raise PermissionDenied(
                    _(
                        "Your account may not do this; ask an admin to add it "
                        "to the Researchers group."
                    )
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# ------------------------------------------------------------------ datasets


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


# ------------------------------------------------------------------ launching


@permission_for_action("experiments.launch_trainingjob")
def run_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if "load_preset" in request.POST:  # no-JS: refill the chosen library's preset
            data = request.POST.copy()
            library = data.get("library")
            for key, value in TABLE_4_1[library if library in TABLE_4_1 else "keras"].items():
                data[key] = "on" if value is True else ("" if value is False else value)
            form = LaunchForm(initial=data.dict())
        else:
            form = LaunchForm(request.POST)
            if form.is_valid():
                source = form.cleaned_data.get("cloned_from")
                try:
                    job = launch(
                        form.job_values,
                        request.user,
                        idempotency_key=form.cleaned_data.get("idempotency_key"),
                        cloned_from=TrainingJob.objects.filter(pk=source).first()
                        if source
                        else None,
                    )
                except IdempotencyKeyReused as exc:
                    form.add_error(None, str(exc))
                    return render(
                        request,
                        "experiments/run_new.html",
                        {"form": form, "presets": TABLE_4_1},
                        status=422,
                    )
                dispatched = getattr(job, "dispatched", None)  # unset on a repeated key
                notify = messages.warning if dispatched is False else messages.success
                notify(request, launch_message(job))
                return redirect(job)
    else:
        initial = launch_initial(
            request.GET.get("library", "keras")
            if request.GET.get("library") in TABLE_4_1
            else "keras"
        )
        source = request.GET.get("clone")
        if source:
            job = _job_or_404(source)
            if job is None:
                raise Http404(_("No such run to clone."))
            if job.dataset is None:
                messages.error(
                    request,
                    _(
                        "Run #%(id)s used dataset %(name)s, which has been "
                        "deleted; choose another dataset."
                    )
                    % {"id": job.pk, "name": job.dataset_name},
                )
            params = clone_params(job)
            params["dataset"] = job.dataset.name if job.dataset else None
            params["pretrained"] = "pretrained" if job.pretrained else "random"
            params["cloned_from"] = job.pk
            initial.update(params)
        form = LaunchForm(initial=initial)
    return render(request, "experiments/run_new.html", {"form": form, "presets": TABLE_4_1})


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


@require_POST
@permission_for_action("experiments.cancel_trainingjob")
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(TrainingJob, pk=pk)
    try:
        outcome = cancel(job, request.user)
    except ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Job #%(id)s cancelled.") % {"id": pk}
            if outcome == "cancelled"
            else _("Job #%(id)s is stopping.") % {"id": pk},
        )
    return redirect(job)


# ------------------------------------------------------------------ runs


def _runs_queryset():
    return TrainingJob.objects.only(*LIST_FIELDS).annotate(
        test_accuracy=Cast(KeyTextTransform("accuracy", "evaluation"), FloatField())
    )


def run_list(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET or None)
    jobs = _runs_queryset()
    sort = "-created_at"
    if form.is_valid():
        data = form.cleaned_data
        for field in ("status", "library", "architecture"):
            if data[field]:
                jobs = jobs.filter(**{field: data[field]})
        if data["dataset"]:
            jobs = jobs.filter(dataset_name=data["dataset"])
        sort = data["sort"] or sort
    jobs = jobs.order_by(sort, "-id")
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "experiments/run_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "labels": LABELS,
        },
    )


def run_figures(job: TrainingJob, metrics: list[EpochMetric]) -> dict:
    return {
        "loss": figures.loss_curves(metrics, job.epochs1),
        "accuracy": figures.accuracy_curve(metrics, job.epochs1),
        "lr_finder": figures.lr_finder_curve(job.lr_finder),
        "confusion": figures.confusion_heatmap(job.evaluation),
        "per_class": figures.per_class_bars(job.evaluation),
    }


def results_context(job: TrainingJob, user=None) -> dict:
    return {
        "job": job,
        "has_model": bool(job.evaluation.get("model_file")),
        "has_log": user is not None
        and is_researcher(user)
        and storage.artifacts().exists(f"{job_prefix(job)}/job.log"),
        "manifest_json": json.dumps(job.manifest, indent=2, sort_keys=True),
    }


# What Django's json_script escapes, so JSON text can sit inside a <script> element.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def run_figures_json(job: TrainingJob, metrics: list[EpochMetric] | None = None) -> str:
    """The run's figures as JSON text: stored once for a finished run, built each time if live.
    Without ``metrics``, they are loaded only if the figures are built."""
    version = RunVersion.of(job, metrics)

    def build() -> dict:
        return run_figures(job, list(job.metrics.all()) if metrics is None else metrics)

    if version is None:
        return json.dumps(build(), separators=(",", ":"))
    return stored_figures_json(job, version, build)


def figures_script(figures_json: str, element_id: str = "run-figures") -> str:
    """The figures in a <script type="application/json">, as the json_script filter writes it."""
    return format_html(
        '<script id="{}" type="application/json">{}</script>',
        element_id,
        mark_safe(figures_json.translate(_SCRIPT_ESCAPES)),
    )


def run_state(
    job: TrainingJob, metrics: list[EpochMetric], request=None, figures: bool = True
) -> dict:
    """What the run page refreshes while a job runs (also the API's `live` view)."""
    state = {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "progress_epoch": job.progress_epoch,
        "total_epochs": job.total_epochs,
        "phase": job.progress_phase,
        "stage": stage_state(job),
        "eta_seconds": job.eta_seconds,
        # Known one-line reasons are in the catalogue; other text (tracebacks) passes through.
        "error": _(job.error) if job.error else "",
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "metrics": [
            {
                "phase": m.phase,
                "epoch": m.epoch,
                "train_loss": m.train_loss,
                "valid_loss": m.valid_loss,
                "valid_accuracy": m.valid_accuracy,
                "learning_rate": m.learning_rate,
                "seconds": m.seconds,
                "images_per_second": m.images_per_second,
            }
            for m in metrics
        ],
    }
    if figures:
        state["figures"] = json.loads(run_figures_json(job, metrics))
    if request is not None and job.is_finished:
        state["results_html"] = render_to_string(
            "experiments/_results.html", results_context(job, request.user), request=request
        )
    return state


def is_researcher(user) -> bool:
    return bool(user.is_authenticated and user.has_perm("experiments.launch_trainingjob"))


def visible_error(error: str, user) -> str:
    """Researchers see a failure's detail (traceback); everyone else its one-line reason."""
    if not error or is_researcher(user):
        return error
    return error.split("\n\n", 1)[0].strip().splitlines()[0][:500]


def _job_or_404(pk) -> TrainingJob:
    """The job with this id; 404 for anything that is not a plain in-range id."""
    if not is_db_id(pk):
        raise Http404(_("No such run."))
    job = TrainingJob.objects.filter(pk=pk).select_related("launched_by").first()
    if job is None:
        raise Http404(_("No run #%(id)s.") % {"id": pk})
    return job


RUN_PAGE_SECONDS = 600


def _kept_run_page_key(request: HttpRequest, job: TrainingJob) -> str | None:
    """A finished run's page is the same for every visitor without a session: keyed by the
    run's figure stamp (its state and the language) and what its files offer."""
    if not job.is_finished or request.method != "GET":
        return None
    if request.COOKIES.get(settings.SESSION_COOKIE_NAME) or get_messages(request):
        return None
    version = RunVersion.of(job)
    files = storage.artifacts().exists(f"{job_prefix(job)}/job.log")
    digest = hashlib.sha1(request.get_full_path().encode()).hexdigest()
    return f"run-page:{job.pk}:{version.stamp}:{files}:{digest}"


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    key = _kept_run_page_key(request, job)
    if key is not None:
        kept = caches["local"].get(key)
        if kept is not None:
            return HttpResponse(kept)
    job.error = visible_error(job.error, request.user)
    # A finished run's page needs its epochs only to build its figures the first time.
    metrics = None if job.is_finished else list(job.metrics.all())
    response = render(
        request,
        "experiments/run_detail.html",
        {
            **results_context(job, request.user),
            "state": run_state(job, metrics or [], figures=False),
            "figures_script": figures_script(run_figures_json(job, metrics)),
            "labels": LABELS,
            "retention_days": settings.PREDICTION_RETENTION_DAYS,
        },
    )
    if key is not None:
        caches["local"].set(key, response.content, RUN_PAGE_SECONDS)
    return response


def run_live(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job_or_404(pk)
    job.error = visible_error(job.error, request.user)
    return JsonResponse(run_state(job, list(job.metrics.all()), request))


def run_artifact(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    job = _job_or_404(pk)
    if kind == "log":
        if not is_researcher(request.user):
            # The log holds tracebacks (server paths, code): researchers only; others get
            # the one-line reason the page shows them.
            reason = visible_error(job.error, request.user)
            text = _("The full log is shown to researchers only.")
            if reason:
                text += "\n" + _(reason)
            return HttpResponse(text, status=403, content_type="text/plain; charset=utf-8")
        key = f"{job_prefix(job)}/job.log"
    elif kind == "model" and job.evaluation.get("model_file"):
        key = job.evaluation["model_file"]
    else:
        raise Http404(_("This run has no such file."))
    return storage.download_response(
        storage.artifacts(),
        key,
        filename=f"run-{job.pk}-{Path(key).name}",
        missing=_("This run has no such file."),
    )


# ------------------------------------------------------------------ comparing


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
        return _csv_response(comparison.runs_csv(jobs), "runs.csv")
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
        return _csv_response(
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


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ------------------------------------------------------------------ workers


def worker_list(request: HttpRequest) -> HttpResponse:
    # Heartbeats are written in database time: compared in database time (no clock skew).
    online = Q(last_seen__gte=Now() - timedelta(seconds=60))
    workers = WorkerHeartbeat.objects.select_related("current_job").annotate(
        online=ExpressionWrapper(online, output_field=BooleanField())
    )
    return render(request, "experiments/worker_list.html", {"workers": workers})
