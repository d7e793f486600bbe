"""The interface every training backend implements, and what they share."""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from importlib import import_module
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

from .reporting import Cancelled, Reporter
from .spec import JobSpec, SplitData, TrainedModel
from .storage import atomic_save

BACKENDS = {
    "keras": "workers.training.keras_backend:KerasBackend",
    "fastai": "workers.training.fastai_backend:FastaiBackend",
}


Run = TypeVar("Run")  # a backend's state for one training run (model, data, settings)


class WeightsUnavailable(Exception):
    """Pretrained weights were asked for but are not in the library's cache (no internet)."""


class LrFinding(NamedTuple):
    """What a backend's LR finder found: the curve's finite points, the suggested rate (None
    when the curve gave none) and how it was chosen (said in the job log)."""

    lrs: list[float]
    losses: list[float]
    suggestion: float | None
    method: str


class TrainingBackend(ABC, Generic[Run]):
    """Two-phase transfer learning (thesis §4.2.2): frozen body, then all layers.

    `train` is the one sequence both libraries follow (set-up, LR finder, phase 1, phase 2,
    save, test predictions), with every reporter call and cancellation check in it; a backend
    supplies the library's steps as hooks, on a run state of its own (`Run`: its model, data
    and settings) that `prepare` builds."""

    library: str
    model_file: str  # the saved model's name in the job's folder

    @abstractmethod
    def check_weights(self, spec: JobSpec) -> None:
        """Raise WeightsUnavailable, naming the file and how to provide it, if needed."""

    def train(
        self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path
    ) -> TrainedModel:
        """Run the LR finder (if asked), phase 1, phase 2; save the model under workdir;
        predict the test split. Raise Cancelled as soon as reporter.should_stop() is true
        (checked between phases here, between batches by the backend's fit)."""
        self.check_weights(spec)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        seed_everything(spec.seed)
        run = self.prepare(spec, data, reporter, workdir)

        self.set_phase(run, 1)  # the LR finder explores phase 1's (frozen) model
        if spec.run_lr_finder and self.batches_per_epoch(run):
            found = self.find_lr(run)
            if found is None:
                raise Cancelled()
            reporter.lr_finder_done(1, found.lrs, found.losses, found.suggestion)
            shown = "-" if found.suggestion is None else f"{found.suggestion:.3g}"
            reporter.log(
                f"LR finder: {len(found.lrs)} points, suggested lr ({found.method}) {shown}"
            )

        for phase, epochs in ((1, spec.epochs1), (2, spec.epochs2)):
            if epochs <= 0:
                reporter.log(f"phase {phase}: 0 epochs, skipped")
                continue
            if reporter.should_stop():
                raise Cancelled()
            self.set_phase(run, phase)
            self.start_phase(run, phase, epochs)
            reporter.phase_started(phase, epochs, self.batches_per_epoch(run))
            if self.fit(run, phase, epochs):
                raise Cancelled()

        # no partial file on a failed save: the model is written to a temporary name first
        model_path = atomic_save(workdir / self.model_file, lambda tmp: self.save(run, tmp))
        probabilities = self.predict_test(run, [path for path, _ in data.test])
        return TrainedModel(test_probabilities=probabilities, model_path=model_path)

    # ------------------------------------------------------------ hooks for train()
    @abstractmethod
    def prepare(self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path) -> Run:
        """Seed the library, build the data loaders and the model, log the set-up line.
        (Weights are checked, `workdir` exists and Python's and NumPy's seeds are set.)"""

    @abstractmethod
    def set_phase(self, run: Run, phase: int) -> None:
        """Make the model's layers trainable as `phase` wants (1: body frozen, 2: all)."""

    def start_phase(self, run: Run, phase: int, epochs: int) -> None:
        """Whatever the library needs before a phase's first batch (optimizer, rates).
        Called after set_phase, before reporter.phase_started."""

    @abstractmethod
    def batches_per_epoch(self, run: Run) -> int:
        """Training batches in one epoch."""

    @abstractmethod
    def find_lr(self, run: Run) -> LrFinding | None:
        """Range test on the phase-1 model, weights restored afterwards; None if the
        reporter asked to stop."""

    @abstractmethod
    def fit(self, run: Run, phase: int, epochs: int) -> bool:
        """Train `epochs` epochs, reporting batches and epochs; True if stopped because
        reporter.should_stop() turned true."""

    @abstractmethod
    def save(self, run: Run, path: Path) -> None:
        """Write the trained model to `path` (a temporary name, renamed into place after)."""

    @abstractmethod
    def predict_test(self, run: Run, images: list[Path]) -> list[list[float]]:
        """Class probabilities for `images` (the test split), in float32, from the model as
        saved."""

    # ------------------------------------------------------------ outside training
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
