"""The interface every training backend implements, and what they share."""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from importlib import import_module
from pathlib import Path

from .reporting import Reporter
from .spec import JobSpec, SplitData, TrainedModel

BACKENDS = {
    "keras": "workers.training.keras_backend:KerasBackend",
    "fastai": "workers.training.fastai_backend:FastaiBackend",
}


class WeightsUnavailable(Exception):
    """Pretrained weights were asked for but are not in the library's cache (no internet)."""


class TrainingBackend(ABC):
    """Two-phase transfer learning (thesis §4.2.2): frozen body, then all layers."""

    library: str

    @abstractmethod
    def check_weights(self, spec: JobSpec) -> None:
        """Raise WeightsUnavailable, naming the file and how to provide it, if needed."""

    @abstractmethod
    def train(
        self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path
    ) -> TrainedModel:
        """Run the LR finder (if asked), phase 1, phase 2; save the model under workdir;
        predict the test split. Honour reporter.should_stop() between batches."""

    @abstractmethod
    def load_and_predict(
        self, model_path: Path, images: list[Path], image_size: int
    ) -> list[list[float]]:
        """Load a saved model and return class probabilities for images."""

    @staticmethod
    def device_name() -> str:
        return "cpu"


def get_backend(library: str) -> TrainingBackend:
    module_name, class_name = BACKENDS[library].split(":")
    return getattr(import_module(module_name), class_name)()


def cores_per_job() -> int:
    """This machine's cores shared among the jobs its worker runs at once
    (TRAINING_JOB_SLOTS, set by the worker at start)."""
    try:
        slots = max(1, int(os.environ.get("TRAINING_JOB_SLOTS", "1")))
    except ValueError:
        slots = 1
    return max(1, (os.cpu_count() or 1) // slots)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is always there in a job
        pass


def limited(items: list, max_items: int | None) -> list:
    return items if not max_items else items[:max_items]


def spread(items: list, cap: int | None) -> list:
    """At most `cap` items, evenly spaced: the lists are sorted by path (class folders), so a
    plain prefix would hold only the first class. Both libraries cap their splits with it."""
    if not cap or cap >= len(items):
        return list(items)
    return [items[i * len(items) // cap] for i in range(cap)]


# Stated on the run page, in the README and in every manifest (issue 7: fair comparison).
KNOWN_DIFFERENCES = [
    "Weight decay: Keras adds an L2 penalty to the loss (every kernel); fastai applies "
    "decoupled weight decay (AdamW style) and skips BatchNorm and bias parameters.",
    "fastai v2 defaults differ from the thesis's fastai v1: one-cycle warm-up 25% of the steps "
    "and final division 1e5, Adam eps 1e-5 (Keras 1e-7), optimizer state kept across "
    "unfreeze.",
    "LR finder: fastai's lr_find on the frozen model (valley suggestion); Keras runs the same "
    "range test written for Keras (steepest-slope suggestion); both restore the weights.",
    "fastai one-cycle schedules Adam's β1 (momentum 0.95 -> 0.85 -> 0.95; β2 = 0.99); Keras "
    "keeps β1 = 0.9, β2 = 0.999 unless fair mode is on.",
    "Speed settings (precision, channels-last, decode-once cache, compiled steps, "
    "deterministic kernels) apply to both libraries alike; Keras tensors are NHWC "
    "(channels-last) by design.",
    "Compiled steps: fastai and Keras on torch compile with torch.compile; Keras on "
    "TensorFlow runs without XLA, which its random zoom, rotation and shear layers do not "
    "support (the job log says so).",
]


def phase2_group_rates(low: float, high: float, groups: int) -> list[float]:
    """Discriminative rates spread geometrically from `low` (first layers) to `high` (head),
    the way fastai spreads slice(low, high) over its layer groups."""
    if groups == 1:
        return [high]
    ratio = (high / low) ** (1 / (groups - 1))
    return [low * ratio**i for i in range(groups)]
