"""Tiny training settings shared by the backend tests: Table 4.1 scaled down for a CPU."""

from dataclasses import fields

from experiments.presets import TABLE_4_1
from workers.training.spec import JobSpec

SPEC_FIELDS = {f.name for f in fields(JobSpec)}


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
