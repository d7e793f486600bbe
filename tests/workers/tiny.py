"""Tiny training settings shared by the backend tests: Table 4.1 scaled down for a CPU."""

from dataclasses import fields

from experiments.jobs.presets import TABLE_4_1
from workers.training.spec import JobSpec

SPEC_FIELDS = {f.name for f in fields(JobSpec)}

# Launch settings of a job small enough for a CPU test (no LR finder, 2 batches per epoch).
TINY_JOB = {
    "architecture": "small-cnn",
    "image_size": 32,
    "batch_size": 8,
    "max_batches": 2,
    "epochs1": 1,
    "epochs2": 1,
    "pretrained": False,
    "run_lr_finder": False,
}


def tiny_spec(library: str, **changes) -> JobSpec:
    """The library's thesis preset on a small CNN, 32 px, batches of 8, one epoch per phase."""
    preset = {k: v for k, v in TABLE_4_1[library].items() if k in SPEC_FIELDS}
    values = {
        **preset,
        "job_id": 1,
        "library": library,
        "architecture": "small-cnn",
        "image_size": 32,
        "batch_size": 8,
        "epochs1": 1,
        "epochs2": 1,
        "pretrained": False,
        "seed": 0,
        "max_batches": 2,
        "run_lr_finder": True,
    }
    return JobSpec(**{**values, **changes})
