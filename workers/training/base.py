"""The interface every training backend implements, and what they share."""

from __future__ import annotations

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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is always there in a job
        pass


def limited(items: list, max_items: int | None) -> list:
    return items if not max_items else items[:max_items]


def phase2_group_rates(low: float, high: float, groups: int) -> list[float]:
    """Discriminative rates spread geometrically from `low` (first layers) to `high` (head),
    the way fastai spreads slice(low, high) over its layer groups."""
    if groups == 1:
        return [high]
    ratio = (high / low) ** (1 / (groups - 1))
    return [low * ratio**i for i in range(groups)]
