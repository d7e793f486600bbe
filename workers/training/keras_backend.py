"""Keras 3 backend: thesis §4.1.2-§4.1.4 and §4.2.2 (Table 4.1), plus an optional "fair mode"
(one-cycle + discriminative learning rates written for Keras).

Keras is imported lazily, after `KERAS_BACKEND` is set from the job (tensorflow or torch): the
backend can only be chosen before the first `import keras` in a process.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    LrFinding,
    TrainingBackend,
    WeightsUnavailable,
    cores_per_job,
    phase2_group_rates,
    spread,
)
from .devices import DeviceError, installed
from .reporting import Reporter
from .spec import JobSpec, SplitData

MODEL_FILE = "model.keras"
# What keras.applications downloads with include_top=False (keras/src/applications).
WEIGHTS_FILES = {
    arch: f"{arch}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    for arch in ("vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169")
}
LR_FINDER_RANGE = (1e-7, 10.0)
PREDICT_BATCH = 32


def has_tensorflow() -> bool:
    return installed("tensorflow")


def default_keras_backend() -> str:
    """For a process with no KERAS_BACKEND set (tests, fetch_weights): a job's backend is
    resolved by devices.resolve_keras_backend before Keras is imported."""
    return "tensorflow" if has_tensorflow() else "torch"


def load_keras(backend: str | None = None):
    """Import keras with `backend` (None: whatever is set or importable) and return it."""
    if "keras" in sys.modules:
        import keras

        if backend and keras.backend.backend() != backend:
            raise RuntimeError(
                f"Keras is already running on {keras.backend.backend()!r} in this "
                f"process; {backend!r} needs a fresh process."
            )
        return keras
    backend = backend or os.environ.get("KERAS_BACKEND") or default_keras_backend()
    if backend == "tensorflow" and not has_tensorflow():
        raise DeviceError(
            "TensorFlow is not installed on this worker; choose the Keras backend 'auto' or "
            "'torch'."
        )
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            try:  # share the card instead of grabbing all its memory up front
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass
    import keras

    return keras


def keras_cache_dir() -> Path:
    """Where keras.utils.get_file keeps downloads (cache_subdir "models")."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


@dataclass(eq=False)
class KerasRun:
    """One training run's state, from KerasBackend.prepare to predict_test."""

    spec: JobSpec
    reporter: Reporter
    classes: int
    train_ds: Any  # keras_parts.ImageBatches (keras_parts imports Keras: not at module level)
    valid_ds: Any
    model: Any = None
    lr: float = 0.0  # the phase's base rate (the head's with discriminative rates)

    @property
    def mixed(self) -> bool:
        return self.spec.precision == "bf16-mixed"

    @property
    def one_cycle(self) -> bool:
        return self.spec.one_cycle or self.spec.fair_mode


def build_model(run: KerasRun, policy: str):
    """The job's model with its layers made under dtype policy `policy`."""
    import keras

    from . import keras_parts as kp

    spec, previous = run.spec, keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return kp.build_model(
            spec.architecture,
            spec.image_size,
            run.classes,
            pretrained=spec.pretrained,
            augmentation=spec.augmentation,
            weight_decay=spec.weight_decay,
            seed=spec.seed,
        )
    finally:  # layers keep their policy; later models in this process start clean
        keras.config.set_dtype_policy(previous)


class KerasBackend(TrainingBackend[KerasRun]):
    library = "keras"
    model_file = MODEL_FILE

    # ------------------------------------------------------------ weights
    @staticmethod
    def weights_path(architecture: str) -> Path:
        if architecture not in WEIGHTS_FILES:
            raise WeightsUnavailable(
                f"{architecture} has no pretrained ImageNet weights; "
                "launch it with random initialisation (pretrained off)."
            )
        return keras_cache_dir() / WEIGHTS_FILES[architecture]

    def check_weights(self, spec: JobSpec) -> None:
        if not spec.pretrained:
            return
        path = self.weights_path(spec.architecture)
        # get_file falls back to /tmp/.keras when the home cache is not writable
        if path.is_file() or (Path("/tmp/.keras/models") / path.name).is_file():
            return
        raise WeightsUnavailable(
            f"Pretrained weights {path.name} are not in the Keras cache {path.parent}. Run "
            f"`python manage.py fetch_weights --library keras --arch {spec.architecture}` on a "
            f"machine with internet and copy {path.name} into {path.parent} (or $KERAS_HOME/"
            "models), or launch the job with random initialisation (pretrained off)."
        )

    def fetch_weights(self, architecture: str) -> Path:
        """Download the no-top ImageNet weights through keras.applications itself."""
        path = self.weights_path(architecture)
        load_keras()
        from . import keras_parts

        keras_parts.build_body(architecture, 224, pretrained=True)
        return path

    # ------------------------------------------------------------ training (train()'s hooks)
    def prepare(
        self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path
    ) -> KerasRun:
        keras = load_keras(spec.keras_backend)
        from . import keras_parts as kp

        keras.utils.set_random_seed(spec.seed)
        configure_kernels(keras, spec.deterministic)
        reporter.log(
            f"Keras {keras.__version__} on {keras.backend.backend()}, device {self.device_name()}"
            f", precision {spec.precision}, compiled steps {'on' if spec.compile else 'off'}"
            f", decode-once cache {'on' if spec.decode_cache else 'off'}"
        )
        workers = min(4, cores_per_job())
        # a capped run (CPU trial) trains and validates on images spread over every class,
        # the same ones as fastai's
        cap = spec.max_batches * spec.batch_size if spec.max_batches else None
        train_items, valid_items = spread(data.train, cap), spread(data.valid, cap)
        caches = decode_once(spec, train_items, valid_items)
        train_ds = kp.ImageBatches(  # drop the last partial batch, as fastai; keep one batch
            train_items,
            spec.image_size,
            max(1, min(spec.batch_size, len(train_items))),
            shuffle=True,
            drop_last=True,
            seed=spec.seed,
            limit=spec.max_batches,
            workers=workers,
            cache=caches[0],
        )
        valid_ds = kp.ImageBatches(  # no gradients in validation: twice the batch fits
            valid_items, spec.image_size, 2 * spec.batch_size, workers=workers, cache=caches[1]
        )
        run = KerasRun(spec, reporter, len(data.classes), train_ds, valid_ds)
        run.model = build_model(run, "mixed_bfloat16" if run.mixed else "float32")
        return run

    def set_phase(self, run: KerasRun, phase: int) -> None:
        from . import keras_parts as kp

        kp.set_phase(run.model, phase)

    def start_phase(self, run: KerasRun, phase: int, epochs: int) -> None:
        """Compile for the phase (trainability changed): its rate, and in phase 2 with
        discriminative rates the body's groups' multipliers (base rate = the head's)."""
        from . import keras_parts as kp

        spec, multipliers = run.spec, None
        run.lr = spec.lr1 if phase == 1 else spec.lr2_low
        if phase == 2 and (spec.discriminative_lr or spec.fair_mode):
            rates = phase2_group_rates(spec.lr2_low, spec.lr2_high, 3)
            run.lr = rates[-1]
            multipliers = kp.group_multipliers(run.model, rates, run.lr)
            run.reporter.log("phase 2 group rates: " + ", ".join(f"{r:.2e}" for r in rates))
        compile_for(run.model, run.lr, spec, multipliers, run.one_cycle)
        if jit_setting(kp.keras, spec.compile) and not compiled_steps(run.model):
            # Keras refused (on TensorFlow: XLA is off with deterministic kernels)
            run.reporter.log(
                f"phase {phase}: Keras runs the steps uncompiled: it does not compile this "
                f"model on {model_backend()}"
            )

    def batches_per_epoch(self, run: KerasRun) -> int:
        return len(run.train_ds)

    def find_lr(self, run: KerasRun) -> LrFinding | None:
        found = lr_find(run.model, run.train_ds, run.spec, run.reporter)
        return None if found is None else LrFinding(*found, method="steepest slope")

    def fit(self, run: KerasRun, phase: int, epochs: int) -> bool:
        from . import keras_parts as kp

        metrics = kp.ReportMetrics(run.reporter, phase, epochs, run.train_ds)
        callbacks = [kp.OneCycle(run.lr, epochs * len(run.train_ds))] if run.one_cycle else []
        run.model.fit(
            run.train_ds,
            validation_data=run.valid_ds if len(run.valid_ds) else None,
            epochs=epochs,
            verbose=0,
            callbacks=[*callbacks, metrics],
        )
        return metrics.cancelled

    def save(self, run: KerasRun, path: Path) -> None:
        """Under bf16-mixed the trained weights go into a float32 model first: it is the
        saved model and the one that predicts the test set (in float32, as fastai's)."""
        import keras

        if run.mixed:
            trained, run.model = run.model, build_model(run, "float32")
            run.model.set_weights(trained.get_weights())
        # A stock Adam in the saved compile config: the file needs no training-only classes
        run.model.compile(
            optimizer=keras.optimizers.Adam(run.spec.lr2_low),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        run.model.save(path)

    def predict_test(self, run: KerasRun, images: list[Path]) -> list[list[float]]:
        return predict(run.model, images, run.spec.image_size, 2 * run.spec.batch_size)

    def load_and_predict(
        self, model_path: Path, images: list[Path], image_size: int
    ) -> list[list[float]]:
        keras = load_keras()
        from . import keras_parts  # noqa: F401  registers the custom layer for loading

        model = keras.saving.load_model(model_path, compile=False)
        return predict(model, images, image_size)

    @staticmethod
    def device_name() -> str:
        if (os.environ.get("KERAS_BACKEND") or default_keras_backend()) == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", gpus[0].name)
            return "cpu"
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def compile_for(
    model, lr: float, spec: JobSpec, multipliers: dict | None = None, one_cycle: bool = False
) -> None:
    import keras

    from . import keras_parts as kp

    if multipliers or one_cycle:  # per-variable rates or a moving beta_1 need ThesisAdam
        optimizer = kp.ThesisAdam(
            learning_rate=lr, beta_1=spec.beta1, beta_2=spec.beta2, lr_multipliers=multipliers
        )
    else:  # the same update: stock Adam (fused/foreach kernels on both Keras backends)
        optimizer = keras.optimizers.Adam(learning_rate=lr, beta_1=spec.beta1, beta_2=spec.beta2)
    jit = jit_setting(keras, spec.compile)
    if jit and keras.backend.backend() == "torch":
        traceable_batch_norm(model)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
    )
    if jit and keras.backend.backend() == "torch":
        kp.gradients_from_the_start(model)  # no second trace in the second step


def traceable_batch_norm(model) -> None:
    """Keras keeps a BatchNormalization layer's reduction axes in a tracked list, which
    torch.compile cannot pass to torch.mean: each such layer breaks the graph and, inside
    Keras's name scopes, makes dynamo give up on the whole step. A tuple traces."""
    import keras

    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization) and layer.built:
            layer._reduction_axes = tuple(layer._reduction_axes)


def model_backend() -> str:
    import keras

    return keras.backend.backend()


def compiled_steps(model) -> bool:
    """Whether Keras really compiles this model's steps (it may refuse what was asked)."""
    return bool(getattr(model, "jit_compile", False))


def jit_setting(keras, compile_steps: bool) -> bool:
    """torch.compile on torch; XLA on TensorFlow when it sees a GPU (every layer of the model
    supports it; on a CPU-only host Keras's own "auto" turns XLA off too). Off when the job
    turned compiled steps off (runner: every CPU job)."""
    if not compile_steps:
        return False
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def configure_kernels(keras, deterministic: bool) -> None:
    """Deterministic kernels only when the job asks: they cost speed on a GPU."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if deterministic:
            tf.config.experimental.enable_op_determinism()
        return
    import torch

    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def decode_once(spec: JobSpec, *splits: list) -> list:
    """One uint8 array per split when the job caches decoded images, else Nones."""
    if not spec.decode_cache:
        return [None] * len(splits)
    from .image_cache import decode_all

    return [decode_all([p for p, _ in items], spec.image_size) for items in splits]


def lr_find(
    model, train_ds, spec: JobSpec, reporter: Reporter
) -> tuple[list[float], list[float], float | None] | None:
    """Range test (Smith; fastai's lr_find) written for Keras: the rate grows exponentially
    from 1e-7 to 10, one batch each, cycling the training data; stops once the smoothed loss
    passes 4x its minimum. Weights are restored afterwards. Returns (rates, smoothed losses,
    steepest-slope suggestion), or None if the reporter asked to stop."""
    initial = model.get_weights()
    # uncompiled: its optimizer and steps are thrown away, and a compile here would cost as
    # much as phase 1's own (torch.compile and XLA trace again for the next optimizer)
    compile_for(model, LR_FINDER_RANGE[0], replace(spec, compile=False))
    steps = 100 if not spec.max_batches else min(100, 10 * spec.max_batches)
    start, end = LR_FINDER_RANGE
    schedule = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    for i, lr in enumerate(schedule):
        if reporter.should_stop():
            model.set_weights(initial)
            return None
        index = i % len(train_ds)
        if i and index == 0:
            train_ds.on_epoch_end()
        x, y = train_ds[index]
        model.optimizer.learning_rate = lr
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        if not math.isfinite(loss):
            break
        average = 0.98 * average + 0.02 * loss
        smoothed = average / (1 - 0.98 ** (i + 1))  # bias-corrected, as fastai
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > 4 * best:
            break
    model.set_weights(initial)
    train_ds.on_epoch_end()
    return lrs, losses, lr_suggestion(lrs, losses)


def lr_suggestion(lrs: list[float], losses: list[float]) -> float | None:
    """The rate at the steepest descent of the smoothed loss; min-loss rate / 10 when the
    curve is too short for a slope."""
    if not lrs:
        return None
    if len(lrs) < 3:
        return lrs[int(np.argmin(losses))] / 10
    # like fastai, ignore the first tenth (smoothing warm-up) and the last 5 (divergence)
    cut = slice(len(lrs) // 10, -5) if len(lrs) > 15 else slice(None)
    lr, loss = np.log(np.asarray(lrs[cut])), np.asarray(losses[cut])
    return float(np.exp(lr[int(np.argmin(np.gradient(loss, lr)))]))


def predict(
    model, images: list[Path], image_size: int, batch_size: int = PREDICT_BATCH
) -> list[list[float]]:
    """Class probabilities for `images`, in their order."""
    if not images:
        return []
    from . import keras_parts as kp

    batches = kp.ImageBatches(list(images), image_size, batch_size, labelled=False)
    return np.asarray(model.predict(batches, verbose=0), dtype=np.float64).tolist()
