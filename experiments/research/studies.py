"""Studies: a grid of jobs (libraries x architectures x setting lists x seeds) on one dataset,
launched together (longest jobs first) and summarised over seeds.

A grid request is plain data (the form, the API and "Reproduce Table 4.2" build one):

    {"name": "...", "dataset": "isic", "libraries": ["keras", "fastai"],
     "architectures": ["resnet50"], "seeds": [0, 1, 2],
     "lr1": [3e-3, 1e-3], "image_size": [128, 256], "epochs": [[1, 2]], "fair_mode": [False],
     "base": {"max_batches": 2, "pretrained": False, "epoch_scale": 0.1, ...}}

The optional lists (lr1, image_size, epochs, fair_mode) vary between cells; `base` holds
settings every job shares. A cell is every setting but the seed.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from django.db import transaction
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from experiments.architectures import ARCHITECTURES, LABELS
from experiments.jobs.actions import ActionRefused, JobRejected, cancel, enqueue, validate
from experiments.jobs.presets import TABLE_4_1
from experiments.models import Dataset, EpochMetric, Study, StudyJob, TrainingJob
from experiments.research import statistics
from experiments.research.predictions import PairingRefused, paired_correctness

MAX_JOBS = 240
MAX_SEEDS = 50
VARYING = ("lr1", "image_size", "epochs", "fair_mode")
BASE_FIELDS = {
    "image_size",
    "batch_size",
    "max_batches",
    "pretrained",
    "epochs1",
    "epochs2",
    "epoch_scale",
    "augmentation",
    "run_lr_finder",
    "keras_backend",
}
# Rough relative cost of one image through each network (forward GFLOPs at 224 px).
ARCH_COST = {
    "vgg16": 15.5,
    "vgg19": 19.6,
    "resnet18": 1.8,
    "resnet50": 4.1,
    "resnet101": 7.8,
    "densenet121": 2.9,
    "densenet169": 3.4,
    "small-cnn": 0.05,
}


class StudyRejected(Exception):
    """The grid is invalid; `errors` maps a field (or a cell) to its message. Nothing queued."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _cell_label(settings: dict) -> str:
    parts = [settings["library"], LABELS.get(settings["architecture"], settings["architecture"])]
    if "lr1" in settings:
        parts.append(f"lr1={settings['lr1']:g}")
    if "image_size" in settings:
        parts.append(f"{settings['image_size']}px")
    if "epochs" in settings:
        parts.append(f"{settings['epochs'][0]}+{settings['epochs'][1]} epochs")
    if settings.get("fair_mode"):
        parts.append("fair")
    return " · ".join(parts)


def _as_list(value, name: str, errors: dict) -> list:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not value:
        errors[name] = _("Must be a non-empty list.")
        return []
    return list(dict.fromkeys(tuple(v) if isinstance(v, list) else v for v in value))


def expand(grid: dict) -> tuple[Dataset, list[tuple[str, dict, dict]]]:
    """Validate the grid; return the dataset and (cell label, cell settings, job values) per
    job, each job's values already checked by experiments.jobs.actions.validate."""
    errors: dict[str, str] = {}
    if not isinstance(grid, dict):
        raise StudyRejected({"grid": _("Must be an object.")})
    dataset = grid.get("dataset")
    if isinstance(dataset, str):
        dataset = Dataset.objects.filter(name=dataset).first()
    if not isinstance(dataset, Dataset):
        errors["dataset"] = _("Choose an imported dataset.")
    libraries = _as_list(grid.get("libraries"), "libraries", errors)
    for library in libraries:
        if library not in ARCHITECTURES:
            errors["libraries"] = _("Unknown library %(name)r: choose keras and/or fastai.") % {
                "name": library
            }
    architectures = _as_list(grid.get("architectures"), "architectures", errors)
    if not libraries:
        errors.setdefault("libraries", _("Choose at least one library."))
    if not architectures:
        errors.setdefault("architectures", _("Choose at least one architecture."))
    for arch in architectures:
        missing = [
            lib for lib in libraries if lib in ARCHITECTURES and arch not in ARCHITECTURES[lib]
        ]
        if missing:
            errors["architectures"] = _("%(arch)r is not available in %(libraries)s.") % {
                "arch": arch,
                "libraries": get_text_list(missing, _("and")),
            }
    seeds = _as_list(grid.get("seeds", [42]), "seeds", errors)
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        errors["seeds"] = _("Seeds must be whole numbers from 0 to 2^31 - 1.")
    if len(seeds) > MAX_SEEDS:
        errors["seeds"] = ngettext("At most %(n)s seed.", "At most %(n)s seeds.", MAX_SEEDS) % {
            "n": MAX_SEEDS
        }
    options = {name: _as_list(grid.get(name), name, errors) for name in VARYING}
    for pair in options["epochs"]:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            errors["epochs"] = _("Each entry must be a pair [phase 1 epochs, phase 2 epochs].")
    base = grid.get("base") or {}
    if not isinstance(base, dict) or set(base) - BASE_FIELDS:
        errors["base"] = _("Allowed shared settings: %(names)s.") % {
            "names": ", ".join(sorted(BASE_FIELDS))
        }
        base = {}
    scale = base.get("epoch_scale")
    if scale is not None and not (
        isinstance(scale, int | float) and not isinstance(scale, bool) and 0 < scale <= 1
    ):
        errors["base"] = _("epoch_scale must be above 0 and at most 1.")
    if errors:
        raise StudyRejected(errors)

    varying = [(name, options[name]) for name in VARYING if options[name]]
    combos = list(itertools.product(*(values for _, values in varying))) or [()]
    total = len(libraries) * len(architectures) * len(combos) * len(seeds)
    if total > MAX_JOBS:
        message = ngettext(
            "%(n)s job; a study may have at most %(max)s.",
            "%(n)s jobs; a study may have at most %(max)s.",
            total,
        )
        raise StudyRejected({"grid": message % {"n": total, "max": MAX_JOBS}})

    planned = []
    for library, arch, combo in itertools.product(libraries, architectures, combos):
        cell = {"library": library, "architecture": arch}
        cell.update({name: value for (name, _), value in zip(varying, combo, strict=True)})
        if library == "fastai" and cell.get("fair_mode"):
            continue  # fair mode is Keras's imitation of fastai: no such fastai cell
        label = _cell_label(cell)
        for seed in seeds:
            params = {k: v for k, v in base.items() if k != "epoch_scale"}
            if scale is not None:
                preset = TABLE_4_1[library]
                params["epochs1"] = max(1, math.ceil(preset["epochs1"] * scale))
                params["epochs2"] = max(1, math.ceil(preset["epochs2"] * scale))
            params.update({k: v for k, v in cell.items() if k != "epochs"})
            if "epochs" in cell:
                params["epochs1"], params["epochs2"] = cell["epochs"]
            params.update({"dataset": dataset, "seed": seed})
            try:
                values = validate(params)
            except JobRejected as refused:
                errors.update({f"{label}: {k}": v for k, v in refused.errors.items()})
                continue
            cell_json = {k: list(v) if isinstance(v, tuple) else v for k, v in cell.items()}
            planned.append((label, cell_json, values))
    if errors:
        raise StudyRejected(errors)
    if not planned:
        raise StudyRejected({"grid": _("The grid has no job.")})
    return dataset, planned


def estimated_cost(values: dict, dataset: Dataset) -> float:
    """Relative duration of a job, to queue the longest first (an estimate, no unit)."""
    train = dataset.split_counts().get("train") or 1
    batches = math.ceil(train / max(1, values["batch_size"]))
    if values.get("max_batches"):
        batches = min(batches, values["max_batches"])
    per_image = ARCH_COST.get(values["architecture"], 5.0) * (values["image_size"] / 224) ** 2
    return (values["epochs1"] + values["epochs2"]) * batches * values["batch_size"] * per_image


def _plain_grid(grid: dict, dataset: Dataset) -> dict:
    out = {k: v for k, v in grid.items() if k != "dataset"}
    out["dataset"] = dataset.name
    return out


def launch_study(grid: dict, user=None) -> Study:
    """Create the study and all its jobs in one transaction; queue the longest jobs first."""
    dataset, planned = expand(grid)
    planned.sort(key=lambda item: -estimated_cost(item[2], dataset))
    name = str(grid.get("name") or "").strip()[:200] or (
        f"{' + '.join(grid['libraries'])} on {dataset.name}"
    )
    with transaction.atomic():
        study = Study.objects.create(
            name=name,
            dataset=dataset,
            dataset_name=dataset.name,
            grid=_plain_grid(grid, dataset),
            created_by=user if user is not None and user.is_authenticated else None,
        )
        for label, cell, values in planned:
            job = TrainingJob.objects.create(launched_by=study.created_by, **values)
            StudyJob.objects.create(study=study, job=job, cell=label, cell_settings=cell)
            enqueue(job)
    return study


def cancel_study(study: Study) -> int:
    """Cancel every job of the study that has not finished; returns how many."""
    count = 0
    for job in study.jobs.exclude(status__in=TrainingJob.FINISHED):
        try:
            cancel(job)
            count += 1
        except ActionRefused:  # finished in the meantime
            pass
    return count


def clone_study(study: Study, user=None) -> Study:
    if study.dataset is None:
        raise ActionRefused(
            _("Study #%(id)s used dataset %(name)r, which has been deleted.")
            % {"id": study.pk, "name": study.dataset_name}
        )
    grid = {**study.grid, "dataset": study.dataset, "name": f"{study.name} (clone)"}
    return launch_study(grid, user)


# ------------------------------------------------------------------ results


def progress(study: Study) -> dict:
    counts = defaultdict(int)
    for status in study.jobs.values_list("status", flat=True):
        counts[status] += 1
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in TrainingJob.FINISHED)
    return {
        "total": total,
        "finished": finished,
        "counts": dict(counts),
        "done": total > 0 and finished == total,
    }


def _members(study: Study) -> list[StudyJob]:
    return list(study.members.select_related("job").order_by("cell", "job__seed", "job_id"))


def _test_accuracy(job: TrainingJob) -> float | None:
    value = (job.evaluation or {}).get("accuracy")
    return float(value) if value is not None else None


def _final_valid_accuracy(study: Study) -> dict[int, float | None]:
    """Valid accuracy after the last phase-2 epoch of each job (as in Table 4.2)."""
    last = {}
    rows = EpochMetric.objects.filter(job__study_members__study=study, phase=2)
    for job_id, accuracy in rows.order_by("job_id", "epoch").values_list(
        "job_id", "valid_accuracy"
    ):
        last[job_id] = accuracy
    return last


def cells(study: Study) -> list[dict]:
    """One row per cell: its jobs, seeds, and test / final valid accuracy over seeds."""
    valid = _final_valid_accuracy(study)
    grouped: dict[str, list[StudyJob]] = defaultdict(list)
    order: list[str] = []
    for member in _members(study):
        if member.cell not in grouped:
            order.append(member.cell)
        grouped[member.cell].append(member)
    rows = []
    for label in order:
        members = grouped[label]
        ok = [m.job for m in members if m.job.status == TrainingJob.SUCCEEDED]
        rows.append(
            {
                "cell": label,
                "settings": members[0].cell_settings,
                "jobs": [
                    {
                        "id": m.job.pk,
                        "seed": m.job.seed,
                        "status": m.job.status,
                        "test_accuracy": _test_accuracy(m.job),
                        "valid_accuracy": valid.get(m.job.pk),
                    }
                    for m in members
                ],
                "succeeded": len(ok),
                "test_accuracy": statistics.mean_std_interval([_test_accuracy(j) for j in ok]),
                "valid_accuracy": statistics.mean_std_interval([valid.get(j.pk) for j in ok]),
            }
        )
    return rows


def _pair_key(settings: dict) -> tuple:
    return tuple(
        sorted((k, str(v)) for k, v in settings.items() if k not in ("library", "fair_mode"))
    )


def library_comparisons(study: Study) -> list[dict]:
    """Keras vs fastai per architecture (and other settings): runs paired by seed, their test
    predictions pooled, then the paired statistics of experiments.research.statistics."""
    by_key: dict[tuple, dict[str, dict[int, TrainingJob]]] = defaultdict(lambda: defaultdict(dict))
    labels: dict[tuple, dict[str, str]] = defaultdict(dict)
    for member in _members(study):
        settings = member.cell_settings
        key = (_pair_key(settings), bool(settings.get("fair_mode")))
        if member.job.status == TrainingJob.SUCCEEDED:
            by_key[key][settings["library"]][member.job.seed] = member.job
        labels[key][settings["library"]] = member.cell
    results = []
    fastai_cells = {k[0]: v for k, v in by_key.items() if "fastai" in v}
    keras_keys = sorted({k for k, lib in labels.items() if "keras" in lib})
    for key in keras_keys:
        pair_key, fair = key
        fastai_key = next((k for k in labels if k[0] == pair_key and "fastai" in labels[k]), None)
        if fastai_key is None:
            continue
        keras_runs = by_key.get(key, {}).get("keras", {})
        fastai_runs = fastai_cells.get(pair_key, {}).get("fastai", {})
        seeds = sorted(set(keras_runs) & set(fastai_runs))
        row = {
            "keras_cell": labels[key]["keras"],
            "fastai_cell": labels[fastai_key]["fastai"],
            "architecture": dict(pair_key).get("architecture"),
            "fair_mode": fair,
            "seeds": seeds,
            "statistics": None,
            "message": "",
        }
        correct_k: list[bool] = []
        correct_f: list[bool] = []
        try:
            for seed in seeds:
                a, b = paired_correctness(keras_runs[seed], fastai_runs[seed])[1:]
                correct_k += a
                correct_f += b
        except PairingRefused as exc:
            row["message"] = str(exc)
        else:
            if seeds:
                row["statistics"] = statistics.paired_statistics(correct_k, correct_f)
            else:
                row["message"] = _("No seed has a finished run in both libraries yet.")
        results.append(row)
    return results


EXPORT_COLUMNS = [
    "study",
    "cell",
    "job",
    "library",
    "architecture",
    "seed",
    "status",
    "test_accuracy",
    "final_valid_accuracy",
]


def export_rows(study: Study) -> list[dict]:
    rows = []
    for cell in cells(study):
        for job in cell["jobs"]:
            rows.append(
                {
                    "study": study.pk,
                    "cell": cell["cell"],
                    "job": job["id"],
                    "library": cell["settings"]["library"],
                    "architecture": cell["settings"]["architecture"],
                    "seed": job["seed"],
                    "status": job["status"],
                    "test_accuracy": job["test_accuracy"],
                    "final_valid_accuracy": job["valid_accuracy"],
                }
            )
    return rows


def summary(study: Study) -> dict:
    """The study as JSON: grid, progress, cells over seeds, Keras-vs-fastai statistics."""
    return {
        "id": study.pk,
        "name": study.name,
        "dataset": study.dataset_name,
        "created_at": study.created_at.isoformat(),
        "grid": study.grid,
        "progress": progress(study),
        "cells": cells(study),
        "library_comparisons": library_comparisons(study),
    }
