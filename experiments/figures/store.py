"""A finished run's (and study's) figures, built once per language and stored: a finished run
never changes, and a study is finished when all its runs are.

Building the five Plotly figures of a run costs tens of milliseconds (Plotly validates and copies
every trace); a finished run's page, its figures API and a browser's second look reuse the stored
JSON instead. Live runs are built on every request, as their metrics still grow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from django.db.models import Count, Max
from django.utils import translation

from experiments.models import EpochMetric, RunFigures, Study, StudyFigures, TrainingJob

# Part of every stamp: change it when a figure function's output changes, and stored figures
# are built again on their next request.
FIGURES_VERSION = "1"


def _stamp(job: TrainingJob, count: int, last_recorded: datetime | None, language: str) -> str:
    evaluation = job.evaluation or {}
    inputs = {
        "version": FIGURES_VERSION,
        "language": language,
        "status": job.status,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "epochs1": job.epochs1,
        "metrics": [count, last_recorded.isoformat() if last_recorded else None],
        "lr_finder": job.lr_finder,
        "evaluation": [evaluation.get(k) for k in ("classes", "confusion_matrix", "per_class")],
    }
    raw = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


class RunVersion:
    """What identifies a finished run's figures: an ETag, a Last-Modified time, a stamp."""

    def __init__(self, job: TrainingJob, count: int, last_recorded: datetime | None) -> None:
        self.language = translation.get_language() or ""
        self.stamp = _stamp(job, count, last_recorded, self.language)
        times = [t for t in (job.finished_at, last_recorded) if t is not None]
        self.last_modified = max(times) if times else None

    @classmethod
    def of(cls, job: TrainingJob, metrics: list | None = None) -> RunVersion | None:
        """None for a live run. With ``metrics`` (loaded rows) no query is made."""
        if not job.is_finished:
            return None
        if metrics is None:
            agg = EpochMetric.objects.filter(job=job).aggregate(
                n=Count("id"), last=Max("recorded_at")
            )
            return cls(job, agg["n"], agg["last"])
        last = max((m.recorded_at for m in metrics), default=None)
        return cls(job, len(metrics), last)


def stored_figures_json(job: TrainingJob, version: RunVersion, build: Callable[[], dict]) -> str:
    """A finished run's stored figures as JSON text; built and stored when missing or stale."""
    return _stored_json(RunFigures, "job", job, version, build)


class StudyVersion:
    """What identifies a finished study's figures: its members (cell, seed), their outcome
    (status, finish time, test accuracy, phase-1 length) and their epochs, in one language."""

    def __init__(self, members: list[tuple], count: int, last_recorded: datetime | None) -> None:
        self.language = translation.get_language() or ""
        inputs = {
            "version": FIGURES_VERSION,
            "language": self.language,
            "members": members,
            "metrics": [count, last_recorded],
        }
        raw = json.dumps(inputs, sort_keys=True, default=str).encode()
        self.stamp = hashlib.sha256(raw).hexdigest()[:32]
        times = [m[4] for m in members if m[4] is not None] + [last_recorded]
        self.last_modified = max((t for t in times if t is not None), default=None)

    @classmethod
    def of(cls, study: Study) -> StudyVersion | None:
        """None while the study has no job or an unfinished one (its figures still change)."""
        members = list(
            study.members.order_by("job_id").values_list(
                "job_id",
                "cell",
                "job__seed",
                "job__status",
                "job__finished_at",
                "job__epochs1",
                "job__evaluation__accuracy",
            )
        )
        if not members or any(m[3] not in TrainingJob.FINISHED for m in members):
            return None
        agg = EpochMetric.objects.filter(job__study_members__study=study).aggregate(
            n=Count("id"), last=Max("recorded_at")
        )
        return cls(members, agg["n"], agg["last"])


def stored_study_figures_json(
    study: Study, version: StudyVersion, build: Callable[[], dict]
) -> str:
    """A finished study's stored figures as JSON text; built and stored when missing or stale."""
    return _stored_json(StudyFigures, "study", study, version, build)


def _stored_json(model, owner_field: str, owner, version, build: Callable[[], dict]) -> str:
    row = (
        model.objects.filter(**{owner_field: owner, "language": version.language})
        .values_list("stamp", "figures")
        .first()
    )
    if row is not None and row[0] == version.stamp:
        return row[1]
    text = json.dumps(build(), separators=(",", ":"))
    # One upsert: a first build or a stale row; two workers building at once both write.
    model.objects.bulk_create(
        [
            model(
                **{owner_field: owner}, language=version.language, stamp=version.stamp, figures=text
            )
        ],
        update_conflicts=True,
        unique_fields=[owner_field, "language"],
        update_fields=["stamp", "figures", "built_at"],
    )
    return text
