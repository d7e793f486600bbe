"""Keras pieces for the Keras backend: data, model, optimizer, schedules and callbacks.

Imports keras at module level, so import it only after `KERAS_BACKEND` has been set
(keras_backend.load_keras does that). Nothing in here imports TensorFlow directly: the same code
runs on the TensorFlow and the torch backends of Keras 3.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from .image_cache import load_image
from .keras_augment import BatchAugment, layer_seeds
from .reporting import Reporter

HEAD_UNITS = 512
HEAD_DROPOUT = (0.25, 0.5)  # fastai's default head dropouts; the thesis gives no values
FAMILIES = {  # architecture -> keras.applications module whose preprocess_input it uses
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "resnet50": "resnet",
    "resnet101": "resnet",
    "densenet121": "densenet",
    "densenet169": "densenet",
    "small-cnn": "scale",
}
APPLICATIONS = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "densenet121": "DenseNet121",
    "densenet169": "DenseNet169",
}


# ---------------------------------------------------------------- data
class ImageBatches(keras.utils.PyDataset):
    """Float32 batches of raw 0-255 RGB pixels, from the job's decode-once cache (a uint8 array
    aligned with `items`) or, without one, decoded from the files with PIL on every pass.

    Preprocessing lives inside the model (after augmentation), so this pipeline is identical for
    every architecture and backend. `limit` caps the batches per epoch (JobSpec.max_batches).
    `drop_last` (training) drops the last partial batch, as fastai's training DataLoader does: every
    step has one shape, so a compiled step is traced once."""

    def __init__(
        self,
        items: list[tuple[Path, int]] | list[Path],
        image_size: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        limit: int | None = None,
        labelled: bool = True,
        workers: int = 1,
        cache: np.ndarray | None = None,
        drop_last: bool = False,
    ):
        # a cached epoch is only array slicing: threads would cost more than they save
        super().__init__(workers=1 if cache is not None else workers, use_multiprocessing=False)
        self.paths = [Path(item[0] if labelled else item) for item in items]
        self.labels = np.array([item[1] for item in items] if labelled else [], dtype=np.int32)
        self.labelled, self.image_size, self.batch_size = labelled, image_size, batch_size
        self.shuffle, self.limit, self.cache = shuffle, limit, cache
        self.drop_last = drop_last
        if cache is not None and len(cache) != len(self.paths):
            raise ValueError(f"cache holds {len(cache)} images for {len(self.paths)} items")
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.paths))
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        whole, rest = divmod(len(self.paths), self.batch_size)
        batches = whole + (1 if rest and not self.drop_last else 0)
        return min(batches, self.limit) if self.limit else batches

    def batch_len(self, index: int) -> int:
        return len(self.order[index * self.batch_size : (index + 1) * self.batch_size])

    def load(self, path: Path) -> np.ndarray:
        return load_image(path, self.image_size).astype(np.float32)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.cache is not None:
            x = self.cache[chosen].astype(np.float32)
        else:
            x = np.stack([self.load(self.paths[i]) for i in chosen])
        return (x, self.labels[chosen]) if self.labelled else x

    def on_epoch_end(self) -> None:
        if self.shuffle:  # a new order every epoch, reproducible from the seed
            self.rng.shuffle(self.order)


# ---------------------------------------------------------------- model
# keras.applications' preprocess_input, per family (keras/src/applications/imagenet_utils.py,
# _preprocess_tensor_input, Keras 3.15): "caffe" turns RGB into BGR and subtracts the ImageNet
# means, "torch" scales to 0-1 and standardises per channel.
PREPROCESS_MODES = {"vgg16": "caffe", "vgg19": "caffe", "resnet": "caffe", "densenet": "torch"}
CAFFE_MEAN = (103.939, 116.779, 123.68)  # B, G, R
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="thesis")
class Preprocess(layers.Layer):
    """Applies keras.applications.<family>.preprocess_input (or /255 for small-cnn) inside the
    model, so augmentation (brightness on 0-255 values) runs before it and a saved model takes
    raw pixels.

    The same arithmetic as Keras's own, written out: Keras builds its mean from a NumPy array
    on every call (`convert_to_tensor(-np.array(mean), dtype=x.dtype)`), and reading that
    array's dtype inside a torch.compile'd step is a graph break (dynamo cannot trace
    `ndarray.dtype`), and inside Keras's name scopes dynamo cannot resume cleanly after one:
    ResNet-50's step fell apart into many graphs.
    Constants from Python floats trace; the values are the same float32 numbers
    (tests/workers/test_keras_backend.py compares with preprocess_input bit for bit)."""

    def __init__(self, family: str, **kwargs):
        super().__init__(**kwargs)
        self.family = family

    def call(self, x):
        if self.family == "scale":
            return ops.divide(x, 255.0)
        if PREPROCESS_MODES[self.family] == "caffe":
            x = ops.flip(x, axis=-1)  # RGB -> BGR (channels last, as the model's input)
            return ops.add(x, constant([-m for m in CAFFE_MEAN], x.dtype))
        x = ops.add(ops.divide(x, 255.0), constant([-m for m in TORCH_MEAN], x.dtype))
        return ops.divide(x, constant(TORCH_STD, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "family": self.family}


def constant(values, dtype):
    """A per-channel constant from Python floats (no NumPy array inside a traced step)."""
    return ops.convert_to_tensor(list(values), dtype=dtype)


@keras.saving.register_keras_serializable(package="thesis")
class SymmetricShear(layers.RandomShear):
    """keras.layers.RandomShear with a config that reloads: in Keras 3.15 a factor f is kept as
    (-f, f) and written so, but from_config rejects the negative bound. Save f itself. Jobs now
    train with keras_augment.BatchAugment; this stays so models saved before still load."""

    def get_config(self) -> dict:
        config = super().get_config()
        config["x_factor"], config["y_factor"] = self.x_factor[1], self.y_factor[1]
        return config


# The model's random layers; each gets its own child of the job's SeedSequence.
RANDOM_LAYERS = ("augment", "head_dropout1", "head_dropout2")


def augmentation_layers(seed: int) -> list[layers.Layer]:
    """Thesis §4.2.2: flips, rotation, zoom, brightness, shear; mild so images stay
    recognisable. One batched layer (keras_augment), active only when training=True."""
    return [BatchAugment(seed=layer_seeds(seed, RANDOM_LAYERS)["augment"], name="augment")]


def dropout(rate: float, seed: int, name: str) -> layers.Dropout:
    """A Dropout with its own SeedGenerator on TensorFlow (stateless draws keyed by the
    layer's seed, advanced in the graph). On torch an unseeded one: Keras seeds a seeded
    layer's mask with a new torch.Generator per call (a host read and a graph break), while an
    unseeded layer uses torch's dropout on torch's generator, seeded once per job."""
    seeded = keras.backend.backend() != "torch"
    return layers.Dropout(
        rate, seed=layer_seeds(seed, RANDOM_LAYERS)[name] if seeded else None, name=name
    )


def small_cnn(image_size: int) -> keras.Model:
    """Four conv blocks with BatchNorm: a body that trains in seconds on a CPU."""
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for i, filters in enumerate((32, 64, 128, 256), start=1):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="he_uniform",
            name=f"block{i}_conv",
        )(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return keras.Model(inputs, x, name="small_cnn")


@keras.saving.register_keras_serializable(package="thesis")
class ZeroPadding(layers.ZeroPadding2D):
    """keras.layers.ZeroPadding2D whose zeros a torch.compile'd step can trace.

    On torch, Keras's `ops.pad` creates a new `Pad` operation on every call, and its automatic
    name bumps a counter in Keras's global name registry (keras/src/utils/naming.py, Keras
    3.15). Dynamo sees a dict that existed before tracing change, and from then on every
    layer's `_call_signature.parameters` (a mappingproxy) is a graph break ("mapping proxy
    affected by dictionary mutation"; ResNet-50's conv1_pad and pool1_pad, DenseNet's too).
    Here the zero rows and columns are concatenated to the input instead: the same values,
    no global state touched. Other backends keep ZeroPadding2D's own call."""

    def call(self, inputs):
        if keras.backend.backend() != "torch":
            return super().call(inputs)
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        x = inputs
        for axis, (before, after) in zip(axes, self.padding, strict=True):
            x = pad_axis(x, axis, before, after)
        return x


def pad_axis(x, axis: int, before: int, after: int):
    """`x` with `before` and `after` zeros along `axis`."""

    def zeros(width: int) -> list:
        shape = list(ops.shape(x))
        shape[axis] = width
        return [ops.zeros(tuple(shape), dtype=x.dtype)] if width else []

    if not before and not after:
        return x
    return ops.concatenate([*zeros(before), x, *zeros(after)], axis=axis)


def traceable_layers(body: keras.Model) -> keras.Model:
    """The same functional model with its ZeroPadding2D layers as ZeroPadding (same names and
    configs; they have no weights). Every other layer is the original object, weights and all."""
    if not any(type(layer) is layers.ZeroPadding2D for layer in body.layers):
        return body

    def swap(layer):
        if type(layer) is not layers.ZeroPadding2D:
            return layer
        # not from get_config(): Keras's serializer imports TensorFlow whenever it is installed
        return ZeroPadding(
            padding=layer.padding,
            data_format=layer.data_format,
            name=layer.name,
            dtype=layer.dtype_policy,
        )

    (source,) = body.inputs
    inputs = keras.Input(  # the input layer keeps its name too
        batch_shape=source.shape, dtype=source.dtype, name=body.layers[0].name
    )
    return keras.models.clone_model(body, input_tensors=inputs, clone_function=swap)


def build_body(architecture: str, image_size: int, pretrained: bool) -> keras.Model:
    if architecture == "small-cnn":
        return small_cnn(image_size)
    constructor = getattr(keras.applications, APPLICATIONS[architecture])
    body = constructor(
        include_top=False,
        weights="imagenet" if pretrained else None,
        input_shape=(image_size, image_size, 3),
    )
    return traceable_layers(body)


def build_model(
    architecture: str,
    image_size: int,
    n_classes: int,
    *,
    pretrained: bool,
    augmentation: bool,
    weight_decay: float,
    seed: int = 0,
) -> keras.Model:
    """Input -> [augmentation] -> preprocess_input -> body -> thesis head (§4.2.2)."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    for layer in augmentation_layers(seed) if augmentation else []:
        x = layer(x)
    # preprocess_input in float32 even under mixed precision (means are subtracted from 0-255)
    x = Preprocess(FAMILIES[architecture], name="preprocess", dtype="float32")(x)
    body = build_body(architecture, image_size, pretrained)
    body.name = "body"
    x = body(x)
    dense = {"kernel_initializer": "he_uniform", "bias_initializer": "zeros"}
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.BatchNormalization(name="head_bn1")(x)
    x = dropout(HEAD_DROPOUT[0], seed, "head_dropout1")(x)
    x = layers.Dense(HEAD_UNITS, name="head_dense1", **dense)(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.BatchNormalization(name="head_bn2")(x)
    x = dropout(HEAD_DROPOUT[1], seed, "head_dropout2")(x)
    # softmax in float32 under mixed precision too
    outputs = layers.Dense(
        n_classes, activation="softmax", name="head_output", dtype="float32", **dense
    )(x)
    model = keras.Model(inputs, outputs, name=f"thesis_{architecture.replace('-', '_')}")
    add_l2(model, weight_decay)
    return model


def all_layers(layer: layers.Layer):
    """Every layer inside `layer`, nested models included (depth first)."""
    for child in getattr(layer, "layers", []):
        yield child
        yield from all_layers(child)


def add_l2(model: keras.Model, weight_decay: float) -> int:
    """L2 on every convolution and dense kernel, body included. Returns how many kernels.

    The §4.1.4 trap: assigning `layer.kernel_regularizer` on a built layer only changes its
    config; Keras 3 collects penalties from `variable.regularizer`, so set it on the kernel
    variable too (the layer attribute keeps it in the saved config, so a reload has it)."""
    if not weight_decay:
        return 0
    count = 0
    for layer in all_layers(model):
        if isinstance(layer, (layers.Conv2D, layers.Dense)):
            regularizer = keras.regularizers.L2(weight_decay)
            layer.kernel_regularizer = regularizer
            layer.kernel.regularizer = regularizer
            count += 1
    return count


def body_of(model: keras.Model) -> keras.Model:
    return model.get_layer("body")


def head_layers(model: keras.Model) -> list[layers.Layer]:
    return [layer for layer in model.layers if layer.name.startswith("head_")]


def set_phase(model: keras.Model, phase: int) -> None:
    """Phase 1: body frozen except its BatchNormalization layers (thesis §4.2.2), head
    trainable. Phase 2: everything trainable. Recompile afterwards."""
    model.trainable = True
    for layer in all_layers(body_of(model)):
        if not getattr(layer, "layers", None):  # leaves only; nested models stay trainable
            layer.trainable = phase == 2 or isinstance(layer, layers.BatchNormalization)


def layer_groups(model: keras.Model) -> list[list]:
    """Three groups for discriminative rates, like fastai's split: first half of the body's
    weighted layers, second half, head. Returns the trainable variables of each group."""
    weighted = [
        layer
        for layer in all_layers(body_of(model))
        if layer.trainable_weights and not getattr(layer, "layers", None)
    ]
    half = (len(weighted) + 1) // 2
    head = [v for layer in head_layers(model) for v in layer.trainable_weights]
    return [
        [v for layer in weighted[:half] for v in layer.trainable_weights],
        [v for layer in weighted[half:] for v in layer.trainable_weights],
        head,
    ]


def group_multipliers(model: keras.Model, rates: list[float], base_rate: float) -> dict:
    """{id(variable): rate / base_rate} for ThesisAdam."""
    return {
        id(v): rate / base_rate
        for group, rate in zip(layer_groups(model), rates, strict=False)
        for v in group
    }


def gradients_from_the_start(model: keras.Model) -> None:
    """For a torch.compile'd step (keras_backend.compile_for). Keras's torch train_step begins
    with `self.zero_grad()`, and torch's Module.zero_grad asks `if p.grad is not None` of every
    parameter: dynamo guards the first step's trace on the trainable variables' gradients
    being None and, once backward() has filled them, traces the whole step again in the
    second (a recompile and one more `backward()` graph break). Zero gradients before the
    first step make its trace the steady one. Nothing computed changes: zero_grad drops them
    before every backward(), which makes new ones."""
    import torch

    for variable in model.trainable_variables:
        value = variable.value
        if value.grad is None:
            value.grad = torch.zeros_like(value)


# ---------------------------------------------------------------- optimizer
@keras.saving.register_keras_serializable(package="thesis")
class ThesisAdam(keras.optimizers.Adam):
    """Adam with (1) a per-variable learning-rate multiplier, for discriminative rates, and
    (2) beta_1 held in a variable, so a one-cycle callback can move it per batch even inside a
    compiled tf.function (a Python float would be frozen into the trace).

    `update_step(gradient, variable, learning_rate)` is called once per variable on both the
    TensorFlow backend (via _distributed_tf_update_step) and torch (BaseOptimizer's loop: a
    subclass is not swapped for the fused torch Adam)."""

    def __init__(self, *args, lr_multipliers: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})  # id(keras variable) -> factor
        self._index_multipliers: dict[int, float] = {}
        self._beta_1_now = self.beta_1  # until build() creates the variable

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.dynamic_beta_1 = self.add_variable(
            shape=(), initializer=keras.initializers.Constant(self._beta_1_now), name="beta_1"
        )
        self._index_multipliers = {
            self._get_variable_index(v): self.lr_multipliers.get(id(v), 1.0) for v in var_list
        }

    def multiplier_for(self, variable) -> float:
        return self._index_multipliers.get(self._get_variable_index(variable), 1.0)

    def set_beta_1(self, value: float) -> None:
        self._beta_1_now = value
        if self.built:
            self.dynamic_beta_1.assign(value)

    def update_step(self, gradient, variable, learning_rate):
        # Adam.update_step (keras/src/optimizers/adam.py) with the two changes above.
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype) * self.multiplier_for(variable)
        gradient = ops.cast(gradient, dtype)
        beta_1 = ops.cast(self.dynamic_beta_1, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(beta_1, step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(
            variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
        )


# ---------------------------------------------------------------- schedules and callbacks
def _cos(start: float, end: float, pos: float) -> float:
    # fastai's SchedCos: start at pos 0, end at pos 1, flat at both ends
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def one_cycle(
    step: int,
    total: int,
    lr_max: float,
    *,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> tuple[float, float]:
    """(learning rate, beta_1) at `step` of `total`, as fastai's fit_one_cycle: cosine warm-up
    from lr_max/div to lr_max over pct_start of the steps, then cosine down to
    lr_max/div_final; momentum moves the other way."""
    pct = step / max(total - 1, 1)
    if pct < pct_start:
        pos = pct / pct_start
        return _cos(lr_max / div, lr_max, pos), _cos(moms[0], moms[1], pos)
    pos = (pct - pct_start) / (1 - pct_start)
    return _cos(lr_max, lr_max / div_final, pos), _cos(moms[1], moms[2], pos)


class OneCycle(keras.callbacks.Callback):
    """Sets the optimizer's learning rate and beta_1 before every training batch."""

    def __init__(self, lr_max: float, total_steps: int):
        super().__init__()
        self.lr_max, self.total, self.step = lr_max, total_steps, 0

    def on_train_batch_begin(self, batch, logs=None):
        lr, beta_1 = one_cycle(min(self.step, self.total - 1), self.total, self.lr_max)
        self.model.optimizer.learning_rate = lr
        self.model.optimizer.set_beta_1(beta_1)
        self.step += 1


class ReportMetrics(keras.callbacks.Callback):
    """The only place training metrics leave Keras: batch ticks, cancellation, one row and one
    log line per finished epoch.

    `async_safe`: Keras then calls the batch hooks from a helper thread, so the training loop
    never waits for the device to turn a batch's loss into a Python number (a per-batch GPU
    sync); a cancel is noticed a batch or so later."""

    async_safe = True

    def __init__(self, reporter: Reporter, phase: int, epochs: int, data: ImageBatches):
        super().__init__()
        self.reporter, self.phase, self.epochs, self.data = reporter, phase, epochs, data
        self.cancelled = False
        self.started = time.monotonic()
        self.train_seconds: float | None = None
        self.batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.batches, self.train_seconds = time.monotonic(), 0, None

    def on_test_begin(self, logs=None):
        # validation starts: images/s counts the training pass only
        if self.train_seconds is None:
            self.train_seconds = time.monotonic() - self.started

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.reporter.batch_done()
        if self.reporter.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.cancelled:  # an interrupted epoch is not a finished one
            return
        logs = logs or {}
        seconds = time.monotonic() - self.started
        lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {
            "train_loss": _num(logs.get("loss")),
            "valid_loss": _num(logs.get("val_loss")),
            "valid_accuracy": _num(logs.get("val_accuracy")),
            "learning_rate": lr,
            "seconds": seconds,
            "train_seconds": self.train_seconds or seconds,
            "images": sum(self.data.batch_len(i) for i in range(self.batches)),
        }
        self.reporter.epoch_done(self.phase, epoch + 1, **row)
        self.reporter.log(
            f"phase {self.phase} epoch {epoch + 1}/{self.epochs}: loss {_fmt(row['train_loss'])}"
            f" val_loss {_fmt(row['valid_loss'])} val_acc {_fmt(row['valid_accuracy'])}"
            f" lr {lr:.2e} {seconds:.1f}s"
        )


def _num(value) -> float | None:
    return None if value is None else float(value)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
