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
    "TensorFlow compiles with XLA (jit_compile=True) when steps are compiled (GPU jobs), "
    "except with deterministic kernels, where Keras turns XLA off (the job log says so).",
    "Augmentation: each library draws every image's parameters for the batch at once and "
    "resamples once (bilinear, float32, reflection fill) inside the training step. Keras: "
    "thesis Table 4.1's family (horizontal and vertical flips, rotation ±18°, zoom 0.9-1.1, "
    "shear ±0.1 about the centre, brightness ±10% of 0-255), every image; fastai: its "
    "aug_transforms (dihedral flips, rotation ±10°, zoom 1-1.1, perspective warp 0.2, "
    "brightness and contrast 0.2, each warp and lighting with probability 0.75).",
    "Random streams: Keras on TensorFlow draws augmentation and dropout from one "
    "SeedGenerator per layer, seeded from the job's SeedSequence; Keras on torch draws the "
    "augmentation from its own torch generator, seeded once from the same SeedSequence child, "
    "and dropout from torch's generator, seeded once per job (a seeded Keras layer on torch "
    "would read its seed back from the device on every draw), as fastai does.",
    "Training batches: both libraries drop the last partial batch of every epoch (fastai's "
    "default; Keras's ImageBatches drop_last), so every step has one shape; validation and "
    "test keep every image.",
    "Precision: under bf16-mixed both libraries train in bf16 but predict the test set in "
    "float32 (Keras copies the trained weights into a float32 model, which is also the saved "
    "model). Augmentation runs in float32 in both (fastai's batch transforms run before "
    "its autocast).",
    "VGG: fastai's vgg16_bn/vgg19_bn (torchvision) have BatchNorm after every convolution; "
    "Keras's VGG16/VGG19 have none (as in the thesis), so phase 1 trains only the head "
    "there and VGG's body learns differently in the two libraries.",
]


def phase2_group_rates(low: float, high: float, groups: int) -> list[float]:
    """Discriminative rates spread geometrically from `low` (first layers) to `high` (head),
    the way fastai spreads slice(low, high) over its layer groups."""
    if groups == 1:
        return [high]
    ratio = (high / low) ** (1 / (groups - 1))
    return [low * ratio**i for i in range(groups)]
