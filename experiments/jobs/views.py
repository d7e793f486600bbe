"""Run pages: launching, the run list, one run (live while it trains), its files, workers.

Anyone may read results; actions need the Researchers group's permissions (anonymous users are
sent to log in, logged-in users without the permission get 403).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.cache import caches
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

from experiments import storage
from experiments.architectures import LABELS
from experiments.figures import runs as figures
from experiments.figures.store import RunVersion, stored_figures_json
from experiments.jobs.actions import (
    ActionRefused,
    IdempotencyKeyReused,
    cancel,
    clone_params,
    launch,
    launch_message,
)
from experiments.jobs.forms import LaunchForm, RunFilterForm, launch_initial
from experiments.jobs.presets import TABLE_4_1
from experiments.jobs.stages import stage_state
from experiments.models import EpochMetric, TrainingJob, WorkerHeartbeat
from experiments.roles import is_researcher, permission_for_action, visible_error
from experiments.storage import job_prefix
from experiments.validation import is_db_id

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


# ------------------------------------------------------------------ datasets


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
            job = job_or_404(source)
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


def job_or_404(pk) -> TrainingJob:
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
    job = job_or_404(pk)
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
    job = job_or_404(pk)
    job.error = visible_error(job.error, request.user)
    return JsonResponse(run_state(job, list(job.metrics.all()), request))


def run_artifact(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    job = job_or_404(pk)
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


# ------------------------------------------------------------------ workers


def worker_list(request: HttpRequest) -> HttpResponse:
    # Heartbeats are written in database time: compared in database time (no clock skew).
    online = Q(last_seen__gte=Now() - timedelta(seconds=60))
    workers = WorkerHeartbeat.objects.select_related("current_job").annotate(
        online=ExpressionWrapper(online, output_field=BooleanField())
    )
    return render(request, "experiments/worker_list.html", {"workers": workers})
