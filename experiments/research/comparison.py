"""Measured runs beside the thesis's published results (Table 4.2), group statistics, CSV.

How to fetch jobs (a fixed number of SQL queries whatever the number of jobs):

* Pass a queryset, e.g. ``table_4_2(TrainingJob.objects.all())``. The functions add the final
  phase-2 metrics as a subquery annotation (``with_final_metrics``), so it is ONE query.
* Or pass jobs already fetched with ``with_final_metrics(qs)`` (annotated): no more queries.
* Or pass jobs fetched with ``.prefetch_related("metrics")``: the metrics are read from the
  prefetch cache, no more queries.
* Any other list of jobs costs ONE extra query for the final metrics of all of them together.

"Final" metrics are those of the last epoch of phase 2 (fine-tuning), as in Table 4.2a.
"""

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from experiments.models import EpochMetric, TrainingJob

ARCHITECTURES = ["vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169"]
LIBRARIES = ["keras", "fastai"]
THESIS_EPOCHS = {"keras": {"epochs1": 50, "epochs2": 100}, "fastai": {"epochs1": 15, "epochs2": 40}}


def _hms(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


# Thesis Table 4.2 as printed: (a) valid loss and accuracy after fine-tuning, (b) phase 1 and
# phase 2 times in hh:mm:ss. Keras losses include the L2 weight penalty (thesis note).
_TABLE_4_2_TEXT = {
    #               loss keras, loss fastai, acc keras, acc fastai,
    #               time1 keras, time1 fastai, time2 keras, time2 fastai
    "vgg16": (5.980, 0.451, 0.757, 0.854, "00:33:15", "00:06:48", "01:07:37", "00:23:49"),
    "vgg19": (6.650, 0.418, 0.577, 0.868, "00:32:46", "00:07:35", "01:08:13", "00:26:45"),
    "resnet50": (9.474, 0.469, 0.757, 0.873, "00:34:26", "00:05:19", "01:05:41", "00:16:19"),
    "resnet101": (8.734, 0.507, 0.720, 0.873, "00:33:34", "00:06:58", "01:08:03", "00:23:17"),
    "densenet121": (9.093, 0.443, 0.786, 0.884, "00:33:33", "00:05:55", "01:07:28", "00:18:20"),
    "densenet169": (7.637, 0.404, 0.783, 0.881, "00:33:59", "00:06:42", "01:08:40", "00:21:06"),
}

THESIS_TABLE_4_2: dict[str, dict[str, dict[str, Any]]] = {
    arch: {
        library: {
            "valid_loss": values[0 + i],
            "valid_accuracy": values[2 + i],
            "phase1_seconds": _hms(values[4 + i]),
            "phase2_seconds": _hms(values[6 + i]),
            "phase1_time": values[4 + i],
            "phase2_time": values[6 + i],
            **THESIS_EPOCHS[library],
        }
        for i, library in enumerate(LIBRARIES)
    }
    for arch, values in _TABLE_4_2_TEXT.items()
}

COMPARED = ("valid_loss", "valid_accuracy", "phase1_seconds", "phase2_seconds")
RUN_COLUMNS = [
    "id",
    "library",
    "architecture",
    "dataset",
    "status",
    "seed",
    "epochs1",
    "epochs2",
    "final_valid_loss",
    "final_valid_accuracy",
    "test_accuracy",
    "phase1_seconds",
    "phase2_seconds",
]
TABLE_4_2_COLUMNS = [
    "architecture",
    "library",
    "job_id",
    "epochs1",
    "epochs2",
    *(f"{prefix}{field}" for field in COMPARED for prefix in ("", "thesis_", "diff_")),
    "thesis_epochs1",
    "thesis_epochs2",
]
GROUP_FIELDS = ("valid_loss", "valid_accuracy", "test_accuracy", "total_seconds")
GROUP_COLUMNS = [
    "library",
    "architecture",
    "count",
    *(f"{field}_{stat}" for field in GROUP_FIELDS for stat in ("mean", "std")),
]


def with_final_metrics(queryset: QuerySet) -> QuerySet:
    """Annotate ``final_valid_loss`` and ``final_valid_accuracy`` (last phase-2 epoch)."""
    last = EpochMetric.objects.filter(job=OuterRef("pk"), phase=2).order_by("-epoch")
    return queryset.annotate(
        final_valid_loss=Subquery(last.values("valid_loss")[:1]),
        final_valid_accuracy=Subquery(last.values("valid_accuracy")[:1]),
    )


def _fetch(jobs: Iterable[TrainingJob], succeeded_only: bool) -> list[TrainingJob]:
    """The jobs as a list, each with ``final`` = (valid_loss, valid_accuracy) or Nones."""
    if isinstance(jobs, QuerySet) and not jobs.query.is_sliced:
        if succeeded_only:
            jobs = jobs.filter(status=TrainingJob.SUCCEEDED)
        if "final_valid_loss" not in jobs.query.annotations:
            jobs = with_final_metrics(jobs)
    jobs = list(jobs)
    if succeeded_only:
        jobs = [job for job in jobs if job.status == TrainingJob.SUCCEEDED]
    missing = []
    for job in jobs:
        if hasattr(job, "final_valid_loss"):
            job.final = (job.final_valid_loss, job.final_valid_accuracy)
        elif "metrics" in getattr(job, "_prefetched_objects_cache", {}):
            phase2 = [m for m in job.metrics.all() if m.phase == 2]
            last = max(phase2, key=lambda m: m.epoch, default=None)
            job.final = (last.valid_loss, last.valid_accuracy) if last else (None, None)
        else:
            missing.append(job)
    if missing:
        annotated = with_final_metrics(TrainingJob.objects.filter(pk__in=[j.pk for j in missing]))
        finals = {
            pk: (loss, acc)
            for pk, loss, acc in annotated.order_by().values_list(
                "pk", "final_valid_loss", "final_valid_accuracy"
            )
        }
        for job in missing:
            job.final = finals.get(job.pk, (None, None))
    return jobs


def _seconds(job: TrainingJob, phase: int) -> float | None:
    value = (job.phase_seconds or {}).get(str(phase), (job.phase_seconds or {}).get(phase))
    return float(value) if value is not None else None


def _test_accuracy(job: TrainingJob) -> float | None:
    value = (job.evaluation or {}).get("accuracy")
    return float(value) if value is not None else None


def _diff(measured: float | None, thesis: float | None) -> float | None:
    return None if measured is None or thesis is None else measured - thesis


def _latest_key(job: TrainingJob) -> tuple:
    return (job.finished_at is not None, job.finished_at, job.pk)


def table_4_2(jobs: Iterable[TrainingJob]) -> list[dict]:
    """Thesis Table 4.2 beside the latest succeeded run (by finished_at) per model and library.

    One row per architecture and library, in the thesis's order; measured values, job_id and
    differences (measured - thesis) are None where there is no succeeded run.
    """
    latest: dict[tuple[str, str], TrainingJob] = {}
    for job in _fetch(jobs, succeeded_only=True):
        key = (job.library, job.architecture.lower())
        if key not in latest or _latest_key(job) > _latest_key(latest[key]):
            latest[key] = job
    rows = []
    for arch in ARCHITECTURES:
        for library in LIBRARIES:
            thesis = THESIS_TABLE_4_2[arch][library]
            job = latest.get((library, arch))
            measured = {
                "valid_loss": job.final[0] if job else None,
                "valid_accuracy": job.final[1] if job else None,
                "phase1_seconds": _seconds(job, 1) if job else None,
                "phase2_seconds": _seconds(job, 2) if job else None,
            }
            row = {
                "architecture": arch,
                "library": library,
                "job_id": job.pk if job else None,
                "dataset": job.dataset_name if job else None,
                "epochs1": job.epochs1 if job else None,
                "epochs2": job.epochs2 if job else None,
                "thesis_epochs1": thesis["epochs1"],
                "thesis_epochs2": thesis["epochs2"],
            }
            for field in COMPARED:
                row[field] = measured[field]
                row[f"thesis_{field}"] = thesis[field]
                row[f"diff_{field}"] = _diff(measured[field], thesis[field])
            rows.append(row)
    return rows


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def _group_order(key: tuple[str, str]) -> tuple:
    library, arch = key
    return (
        LIBRARIES.index(library) if library in LIBRARIES else len(LIBRARIES),
        library,
        ARCHITECTURES.index(arch) if arch in ARCHITECTURES else len(ARCHITECTURES),
        arch,
    )


def group_stats(jobs: Iterable[TrainingJob]) -> list[dict]:
    """Count, mean and population std per (library, architecture) over succeeded runs.

    Statistics of final valid loss and accuracy, test accuracy (evaluation.accuracy) and total
    seconds (both phases); a value missing from a run is left out of that statistic only.
    """
    groups: dict[tuple[str, str], list[TrainingJob]] = defaultdict(list)
    for job in _fetch(jobs, succeeded_only=True):
        groups[(job.library, job.architecture)].append(job)
    rows = []
    for key in sorted(groups, key=_group_order):
        members = groups[key]
        values = {
            "valid_loss": [j.final[0] for j in members],
            "valid_accuracy": [j.final[1] for j in members],
            "test_accuracy": [_test_accuracy(j) for j in members],
            "total_seconds": [
                sum(float(s) for s in (j.phase_seconds or {}).values()) if j.phase_seconds else None
                for j in members
            ],
        }
        row = {
            "library": key[0],
            "architecture": key[1],
            "count": len(members),
            "job_ids": sorted(j.pk for j in members),
            "seeds": sorted(j.seed for j in members),
        }
        for field in GROUP_FIELDS:
            present = [float(v) for v in values[field] if v is not None]
            row[f"{field}_mean"], row[f"{field}_std"] = _mean_std(present)
            row[f"{field}_n"] = len(present)
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # keep spreadsheets from reading the cell as a formula
    return value


def comparison_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """CSV text: a header of ``columns``, then one line per row (missing values empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def run_rows(jobs: Iterable[TrainingJob]) -> list[dict]:
    """One dict per job (any status) with the columns of ``RUN_COLUMNS``."""
    return [
        {
            "id": job.pk,
            "library": job.library,
            "architecture": job.architecture,
            "dataset": job.dataset_name,
            "status": job.status,
            "seed": job.seed,
            "epochs1": job.epochs1,
            "epochs2": job.epochs2,
            "final_valid_loss": job.final[0],
            "final_valid_accuracy": job.final[1],
            "test_accuracy": _test_accuracy(job),
            "phase1_seconds": _seconds(job, 1),
            "phase2_seconds": _seconds(job, 2),
        }
        for job in _fetch(jobs, succeeded_only=False)
    ]


def runs_csv(jobs: Iterable[TrainingJob]) -> str:
    """CSV of every job given: settings, final metrics, test accuracy, phase seconds."""
    return comparison_csv(run_rows(jobs), RUN_COLUMNS)
