"""KerasBackend on tiny generated digits: model structure, L2, discriminative rates, one-cycle,
LR finder, end-to-end training, reload, cancellation, missing weights.

No database needed: the backends are plain code; jobs and workers are tested elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments.datasets.demo import write_digits
from workers.training.base import WeightsUnavailable, phase2_group_rates
from workers.training.keras_backend import KerasBackend, load_keras, lr_suggestion
from workers.training.reporting import Cancelled, MemoryReporter
from workers.training.spec import SplitData

pytestmark = pytest.mark.slow

keras = load_keras()  # tensorflow when installed, else torch
from keras import layers

from workers.training import keras_parts as kp

from .tiny import tiny_spec

SPEC = tiny_spec("keras", lr2_high=3e-4, keras_backend=keras.backend.backend())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SplitData:
    root = tmp_path_factory.mktemp("digits")
    write_digits(root, per_class=12, size=32, classes=3)
    items = [(p, int(p.parent.name)) for p in sorted(root.glob("*/*.png"))]
    return SplitData(
        classes=["0", "1", "2"],
        train=[it for i, it in enumerate(items) if i % 4 < 2],
        valid=[it for i, it in enumerate(items) if i % 4 == 2],
        test=[it for i, it in enumerate(items) if i % 4 == 3],
    )


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One tiny fair-mode run (one-cycle + discriminative rates), LR finder on."""
    reporter = MemoryReporter()
    spec = replace(SPEC, fair_mode=True)
    result = KerasBackend().train(spec, data, reporter, tmp_path_factory.mktemp("work"))
    return spec, reporter, result


def small_model(weight_decay: float = 0.01, augmentation: bool = True, arch: str = "small-cnn"):
    return kp.build_model(
        arch, 32, 3, pretrained=False, augmentation=augmentation, weight_decay=weight_decay, seed=0
    )


def kernels(model) -> list:
    return [
        layer for layer in kp.all_layers(model) if isinstance(layer, (layers.Conv2D, layers.Dense))
    ]


# ------------------------------------------------------------------ model
def test_head_follows_the_thesis_and_augmentation_precedes_preprocessing():
    model = small_model()
    head = kp.head_layers(model)
    assert [type(layer) for layer in head] == [
        layers.GlobalAveragePooling2D,
        layers.BatchNormalization,
        layers.Dropout,
        layers.Dense,
        layers.ReLU,
        layers.BatchNormalization,
        layers.Dropout,
        layers.Dense,
    ]
    assert head[-1].units == 3 and head[-1].activation is keras.activations.softmax
    assert head[3].activation is keras.activations.linear  # ReLU is its own layer
    for dense in (head[3], head[-1]):
        assert isinstance(dense.kernel_initializer, keras.initializers.HeUniform)
        assert isinstance(dense.bias_initializer, keras.initializers.Zeros)
    names = [layer.name for layer in model.layers]
    assert names.index("augment") < names.index("preprocess") < names.index("body")
    assert "augment" not in [layer.name for layer in small_model(augmentation=False).layers]


def test_resnet50_l2_everywhere_and_phase1_trains_only_batchnorm_in_the_body():
    model = small_model(arch="resnet50")
    convs = kernels(model)
    assert len(convs) == 53 + 2  # ResNet50's convolutions + the two head Dense layers
    assert all(layer.kernel.regularizer is layer.kernel_regularizer for layer in convs)
    assert all(float(layer.kernel_regularizer.l2) == pytest.approx(0.01) for layer in convs)
    kp.set_phase(model, 1)
    leaves = [layer for layer in kp.all_layers(kp.body_of(model)) if layer.weights]
    bn = [layer for layer in leaves if isinstance(layer, layers.BatchNormalization)]
    assert bn and all(layer.trainable for layer in bn)
    assert all(not layer.trainable for layer in leaves if layer not in bn)
    assert all(layer.trainable for layer in kp.head_layers(model))
    trainable = {id(v) for v in model.trainable_weights}
    assert not any(id(layer.kernel) in trainable for layer in convs[:-2])
    kp.set_phase(model, 2)
    assert all(layer.trainable for layer in leaves)
    assert len(model.losses) == len(convs)  # one L2 term per kernel once all train


# TensorFlow's variables warn once each when Keras saves them (NumPy 2's __array__ copy)
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_resnet50_body_is_keras_own_with_traceable_padding(tmp_path):
    """build_body swaps keras.applications' ZeroPadding2D layers for kp.ZeroPadding (a
    torch.compile'd step traces it): same layers, names, weights; saves and reloads."""
    model = small_model(arch="resnet50")
    body = kp.body_of(model)
    stock = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert [layer.name for layer in body.layers[1:]] == [layer.name for layer in stock.layers[1:]]
    swapped = [
        (ours.name, type(theirs).__name__)
        for ours, theirs in zip(body.layers, stock.layers, strict=True)
        if type(ours) is not type(theirs)
    ]
    assert swapped == [("conv1_pad", "ZeroPadding2D"), ("pool1_pad", "ZeroPadding2D")]
    assert [body.get_layer(name).padding for name, _ in swapped] == [
        ((3, 3), (3, 3)),
        ((1, 1),) * 2,
    ]
    assert [w.path for w in body.weights] == [w.path for w in stock.weights]
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert isinstance(kp.body_of(reloaded).get_layer("conv1_pad"), kp.ZeroPadding)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)


def test_l2_really_enters_the_loss():
    with_l2, without = small_model(0.01, augmentation=False), small_model(0.0, augmentation=False)
    without.set_weights(with_l2.get_weights())
    assert len(with_l2.losses) == len(kernels(with_l2)) and without.losses == []
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 2, 0])
    losses = []
    for model in (with_l2, without):
        model.compile(loss="sparse_categorical_crossentropy")
        losses.append(model.evaluate(x, y, verbose=0))
    penalty = sum(
        0.01 * float(np.sum(np.square(layer.kernel.numpy()))) for layer in kernels(with_l2)
    )
    assert losses[0] - losses[1] == pytest.approx(penalty, rel=1e-3)

    # The §4.1.4 trap that add_l2 avoids: the layer attribute alone is never collected.
    trap = small_model(0.0, augmentation=False)
    for layer in kernels(trap):
        layer.kernel_regularizer = keras.regularizers.L2(0.01)
    assert trap.losses == []


def test_preprocessing_matches_each_family_and_brightness_works_on_0_255():
    x = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    original = x.copy()
    for family in ("vgg16", "resnet", "densenet"):  # the same float32 numbers, bit for bit
        module = getattr(keras.applications, family)
        got = keras.ops.convert_to_numpy(kp.Preprocess(family)(x))
        np.testing.assert_array_equal(got, module.preprocess_input(x.copy()))
        tensor = keras.ops.convert_to_tensor(x.copy())
        np.testing.assert_array_equal(
            got, keras.ops.convert_to_numpy(module.preprocess_input(tensor))
        )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kp.Preprocess("scale")(x)), x / 255)
    np.testing.assert_array_equal(x, original)  # preprocess_input must not edit its input
    for layer in kp.augmentation_layers(0):  # identity outside training
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), x)


def test_image_batches_shuffle_per_epoch_with_the_seed(data):
    a = kp.ImageBatches(data.train, 32, 8, shuffle=True, seed=3)
    b = kp.ImageBatches(data.train, 32, 8, shuffle=True, seed=3)
    x, y = a[0]
    assert x.dtype == np.float32 and x.shape == (8, 32, 32, 3) and 0 <= x.min() <= x.max() <= 255
    assert y.tolist() == [data.train[i][1] for i in a.order[:8]]
    first = a.order.copy()
    np.testing.assert_array_equal(first, b.order)
    a.on_epoch_end()
    assert not np.array_equal(first, a.order)
    assert len(kp.ImageBatches(data.train, 32, 8, limit=2)) == 2 == math.ceil(18 / 8) - 1
    assert len(kp.ImageBatches(data.train, 32, 8)) == 3
    # training drops the last partial batch (as fastai): every step has one shape
    dropping = kp.ImageBatches(data.train, 32, 8, shuffle=True, drop_last=True)
    assert len(dropping) == 2 and dropping.batch_len(1) == 8


# ------------------------------------------------------------------ rates and schedules
def test_discriminative_rates_reach_the_layer_groups():
    model = small_model()
    kp.set_phase(model, 2)
    rates = phase2_group_rates(1e-5, 1e-3, 3)
    optimizer = kp.ThesisAdam(
        learning_rate=rates[-1], lr_multipliers=kp.group_multipliers(model, rates, rates[-1])
    )
    variables = model.trainable_variables
    optimizer.build(variables)
    first = kp.body_of(model).get_layer("block1_conv").kernel
    late = kp.body_of(model).get_layer("block4_conv").kernel
    head = model.get_layer("head_output").kernel
    for variable, rate in ((first, 1e-5), (late, 1e-4), (head, 1e-3)):
        assert optimizer.multiplier_for(variable) * rates[-1] == pytest.approx(rate)
    # One Adam step with a unit gradient moves every weight by ~ its own learning rate.
    before = {id(v): keras.ops.convert_to_numpy(v).copy() for v in (first, late, head)}
    optimizer.apply_gradients([(keras.ops.ones(v.shape), v) for v in variables])
    for variable, rate in ((first, 1e-5), (late, 1e-4), (head, 1e-3)):
        step = before[id(variable)] - keras.ops.convert_to_numpy(variable)
        np.testing.assert_allclose(step, rate, rtol=1e-2)  # float32 steps


def test_multipliers_hold_inside_a_compiled_fit():
    """update_step is also what model.fit's (traced) train step calls."""
    model = small_model(0.0, augmentation=False)
    kp.set_phase(model, 2)
    head = model.get_layer("head_output").kernel
    conv = kp.body_of(model).get_layer("block1_conv").kernel
    model.compile(
        optimizer=kp.ThesisAdam(learning_rate=1e-2, lr_multipliers={id(head): 0.0}),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    before = [keras.ops.convert_to_numpy(v).copy() for v in (head, conv)]
    x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    model.fit(x, np.arange(16) % 3, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(head), before[0])
    assert np.abs(keras.ops.convert_to_numpy(conv) - before[1]).max() > 1e-3


def test_one_cycle_warms_up_then_anneals_with_inverse_momentum():
    total, lr_max = 200, 1e-3
    lrs, moms = zip(*(kp.one_cycle(step, total, lr_max) for step in range(total)), strict=False)
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(lr_max / 25)
    assert lrs[peak] == pytest.approx(lr_max, rel=1e-3) and 0.2 * total <= peak <= 0.3 * total
    assert lrs[-1] == pytest.approx(lr_max / 1e5)
    assert all(np.diff(lrs[: peak + 1]) >= 0) and all(np.diff(lrs[peak:]) <= 0)
    assert moms[0] == pytest.approx(0.95) and moms[-1] == pytest.approx(0.95)
    assert int(np.argmin(moms)) == peak and min(moms) == pytest.approx(0.85, abs=1e-4)


def test_lr_suggestion_is_the_steepest_descent():
    lrs = list(np.logspace(-7, 1, 40))
    losses = [2.0 - math.tanh(np.log10(lr) + 3) for lr in lrs]  # steepest at 1e-3
    assert lr_suggestion(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    assert lr_suggestion([1e-3, 1e-2], [1.0, 0.5]) == pytest.approx(1e-3)
    assert lr_suggestion([], []) is None


# ------------------------------------------------------------------ training
def test_train_end_to_end(trained, data):
    spec, reporter, result = trained
    assert [(row["phase"], row["epoch"]) for row in reporter.epochs] == [(1, 1), (2, 1)]
    assert reporter.phases == [(1, 1, 2), (2, 1, 2)]
    for row in reporter.epochs:
        assert math.isfinite(row["train_loss"]) and math.isfinite(row["valid_loss"])
        assert 0 <= row["valid_accuracy"] <= 1 and row["images"] == 16 and row["seconds"] > 0
    # one-cycle ran inside fit: each phase ends at its peak rate / 1e5
    assert reporter.epochs[0]["learning_rate"] == pytest.approx(spec.lr1 / 1e5, rel=1e-3)
    assert reporter.epochs[1]["learning_rate"] == pytest.approx(spec.lr2_high / 1e5, rel=1e-3)
    assert reporter.batches == 4  # LR-finder batches are not training batches
    finder = reporter.lr_finder
    assert finder["phase"] == 1 and 3 <= len(finder["lrs"]) <= 20
    assert finder["lrs"] == sorted(finder["lrs"]) and finder["lrs"][0] == pytest.approx(1e-7)
    assert all(math.isfinite(loss) for loss in finder["losses"])
    assert 1e-7 <= finder["suggestion"] <= 10
    shown = f"{finder['suggestion']:.3g}"
    assert f"LR finder: {len(finder['lrs'])} points, suggested lr (steepest slope) {shown}" in (
        reporter.messages
    )
    probabilities = np.array(result.test_probabilities)
    assert probabilities.shape == (len(data.test), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert result.model_path.name == "model.keras" and result.model_path.is_file()
    assert sum("epoch" in message for message in reporter.messages) == 2


def test_saved_model_reloads_with_the_same_probabilities(trained, data):
    _, _, result = trained
    again = KerasBackend().load_and_predict(result.model_path, [p for p, _ in data.test], 32)
    np.testing.assert_allclose(again, result.test_probabilities, rtol=1e-5, atol=1e-6)


def test_cancel_stops_within_a_batch(data, tmp_path):
    reporter = MemoryReporter(stop_after_epochs=1)
    spec = replace(SPEC, epochs1=2, run_lr_finder=False)
    with pytest.raises(Cancelled):
        KerasBackend().train(spec, data, reporter, tmp_path)
    assert [(row["phase"], row["epoch"]) for row in reporter.epochs] == [(1, 1)]
    assert reporter.batches == 3  # 2 in epoch 1, then the first batch of epoch 2
    assert not (tmp_path / "model.keras").exists()


TORCH_RUN = """
import importlib.abc, importlib.util, json, sys

class NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # any `import tensorflow` fails, as on a machine without it
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, NoTensorFlow())
from dataclasses import replace
from pathlib import Path
from workers.training.keras_backend import KerasBackend
from workers.training.reporting import MemoryReporter
from workers.training.spec import JobSpec, SplitData
spec, data, work = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
data = SplitData(data["classes"], *[[(Path(p), y) for p, y in data[k]]
                                    for k in ("train", "valid", "test")])
reporter = MemoryReporter()
result = KerasBackend().train(JobSpec(**spec), data, reporter, work)
import keras
import numpy as np
from workers.training import keras_gradcam
# the saved model, reloaded as a predict worker does: Grad-CAM through torch.autograd
probs, cam = keras_gradcam.explain(keras_gradcam.load(result.model_path), data.test[0][0],
                                   spec["image_size"])
print(json.dumps({"backend": keras.backend.backend(), "epochs": len(reporter.epochs),
                  "shape": [len(result.test_probabilities), len(result.test_probabilities[0])],
                  "gradcam_probabilities_match": bool(np.allclose(
                      probs, result.test_probabilities[0], atol=1e-4)),
                  "gradcam_map": [cam.ndim, bool(np.isfinite(cam).all()),
                                  bool((cam >= 0).all())],
                  "tensorflow_imported": "tensorflow" in sys.modules}))
"""


def run_in_torch_process(script: str, *args: str) -> dict:
    """Run `script` (python -c) with `args` in a fresh process (Keras's backend is fixed at its
    first import) and return the JSON of its last line. No timeout: Keras on torch's first
    step can take minutes on a loaded machine; the test waits for the process to end (a crash
    or a hang shows in its output)."""
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", script, *args],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_torch_keras_backend_trains_without_tensorflow(data, tmp_path):
    """A fresh process (the backend is fixed at the first `import keras`) on torch, with
    TensorFlow made unimportable: it trains, saves, and its saved model explains an image
    with Grad-CAM as a predict worker on a torch-only GPU host would."""
    spec = replace(  # steps uncompiled, as a CPU job's (test_compiled_steps_... compiles)
        SPEC,
        keras_backend="torch",
        max_batches=1,
        run_lr_finder=False,
        fair_mode=True,
        compile=False,
    ).as_dict()
    split = {
        "classes": data.classes,
        **{k: [(str(p), y) for p, y in getattr(data, k)] for k in ("train", "valid", "test")},
    }
    out = run_in_torch_process(TORCH_RUN, json.dumps(spec), json.dumps(split), str(tmp_path))
    assert out == {
        "backend": "torch",
        "epochs": 2,
        "shape": [len(data.test), 3],
        "gradcam_probabilities_match": True,  # the same model as the stored predictions
        "gradcam_map": [2, True, True],  # a 2-D, finite, non-negative class-activation map
        "tensorflow_imported": False,
    }


TORCH_COMPILE = (
    TORCH_RUN.split("from dataclasses import replace")[0]
    + """
from dataclasses import replace
from workers.training import keras_backend as kb
kb.load_keras("torch")  # before keras_parts imports keras
from workers.training import keras_parts as kp
from workers.training.spec import JobSpec
spec = replace(JobSpec(**json.loads(sys.argv[1])), compile=True)
model = kp.build_model("small-cnn", 32, 3, pretrained=False, augmentation=True,
                       weight_decay=1e-4, seed=0)
kb.compile_for(model, 1e-3, spec)
model.make_train_function()
print(json.dumps({"jit_compile": model.jit_compile,
                  "torch_compiled": hasattr(model.train_function, "_torchdynamo_orig_callable"),
                  "tensorflow_imported": "tensorflow" in sys.modules}))
"""
)


def test_compiled_steps_really_compile_keras_on_torch():
    """On torch the job's `compile` setting gives a torch.compile'd step, as fastai gets."""
    spec = replace(SPEC, keras_backend="torch").as_dict()
    out = run_in_torch_process(TORCH_COMPILE, json.dumps(spec))
    assert out == {"jit_compile": True, "torch_compiled": True, "tensorflow_imported": False}


TORCH_GRAPH_BREAKS = (
    TORCH_RUN.split("from dataclasses import replace")[0]
    + """
import functools
from dataclasses import replace
from workers.training import keras_backend as kb
kb.load_keras("torch")  # before keras_parts imports keras
import keras
import numpy as np
import torch
from keras import layers
from torch._dynamo.utils import counters
from workers.training import keras_parts as kp
from workers.training.spec import JobSpec

def tiny_resnet(include_top, weights, input_shape):
    # ResNet50's stem and one residual block, a few channels wide: what build_body gets from
    # keras.applications (a Functional model with ZeroPadding2D layers), nested as "body"
    inputs = keras.Input(input_shape)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(8, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    y = layers.Conv2D(8, 3, padding="same", name="conv2_conv")(x)
    y = layers.BatchNormalization(name="conv2_bn")(y)
    x = layers.Activation("relu", name="conv2_out")(layers.Add(name="conv2_add")([x, y]))
    return keras.Model(inputs, x, name="resnet50")

rng = np.random.default_rng(0)
pixels = rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32")
same = {}
for family in ("vgg16", "resnet", "densenet"):  # bit for bit, Keras's own on torch tensors
    ours = kp.Preprocess(family)(torch.as_tensor(pixels))
    theirs = getattr(keras.applications, family).preprocess_input(torch.as_tensor(pixels))
    same[family] = bool(torch.equal(ours, theirs))
for padding in (3, ((1, 2), (0, 3))):
    stock = layers.ZeroPadding2D(padding)(torch.as_tensor(pixels))
    same[str(padding)] = bool(torch.equal(kp.ZeroPadding(padding)(torch.as_tensor(pixels)), stock))

keras.applications.ResNet50 = tiny_resnet
torch.compile = functools.partial(torch.compile, backend="eager")  # dynamo traces, no inductor
spec = replace(JobSpec(**json.loads(sys.argv[1])), compile=True)
model = kp.build_model("resnet50", 16, 3, pretrained=False, augmentation=True,
                       weight_decay=1e-4, seed=0)
kp.set_phase(model, 2)
kb.compile_for(model, 1e-3, spec)
x, y = torch.as_tensor(pixels), torch.as_tensor(np.array([0, 1, 2, 0], dtype="int32"))
model.train_on_batch(x, y)  # the first step traces (and builds the optimizer's slots)
warm = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
for _ in range(2):
    model.train_on_batch(x, y)
breaks = {reason.splitlines()[0]: n for reason, n in counters["graph_break"].items()}
print(json.dumps({
    "same": same,
    "body_padding": [type(layer).__name__ for layer in kp.body_of(model).layers
                     if "pad" in layer.name],
    "breaks_other_than_backward": {r: n for r, n in breaks.items() if "backward" not in r},
    "backward_breaks": sum(n for r, n in breaks.items() if "backward" in r),
    "later_steps_traced": [counters["stats"]["unique_graphs"] - warm[0],
                           sum(counters["graph_break"].values()) - warm[1]],
    "torch_compiled": hasattr(model.train_function, "_torchdynamo_orig_callable"),
    "tensorflow_imported": "tensorflow" in sys.modules}))
"""
)


def test_compiled_keras_step_breaks_only_at_backward():
    """Keras on torch, the job's own model (augmentation, preprocess_input, a nested
    keras.applications-style body with ZeroPadding2D, head) and its compile_for, one
    torch.compile'd training step: dynamo's only graph break is Keras's `loss.backward()`.
    Regressions this catches (bench/README.md, step profile): a NumPy constant inside the
    step (preprocess_input's mean) and a Keras op that renames itself on every call
    (ZeroPadding2D's `ops.pad`), which made ResNet-50's step break 24 times. Dynamo's eager
    backend: graphs are traced as for inductor, without compiling kernels."""
    spec = replace(SPEC, keras_backend="torch").as_dict()
    out = run_in_torch_process(TORCH_GRAPH_BREAKS, json.dumps(spec))
    assert out["same"] == {
        "vgg16": True,
        "resnet": True,
        "densenet": True,
        "3": True,
        "((1, 2), (0, 3))": True,
    }
    assert out["body_padding"] == ["ZeroPadding", "ZeroPadding"]
    assert out["breaks_other_than_backward"] == {}
    # Keras's `loss.backward()`, once in the compiled one_step_on_data and once in the
    # train_step it calls, both traced in the first step only
    assert out["backward_breaks"] <= 2
    assert out["later_steps_traced"] == [0, 0]  # no recompile (kp.gradients_from_the_start)
    assert out["torch_compiled"] and not out["tensorflow_imported"]


def test_keras_compiles_every_layer_of_the_model():
    """XLA on TensorFlow, torch.compile on torch: Keras accepts jit_compile for every layer
    (the batched augmentation has no XLA limit; Keras's image layers had)."""
    from workers.training import keras_backend as kb

    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy", jit_compile=True)
    assert kb.compiled_steps(model)
    kb.compile_for(model, 1e-3, replace(SPEC, compile=False))
    assert not kb.compiled_steps(model)


# ------------------------------------------------------------------ weights
def test_missing_pretrained_weights_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    backend = KerasBackend()
    spec = replace(SPEC, architecture="resnet50", pretrained=True)
    with pytest.raises(WeightsUnavailable) as error:
        backend.check_weights(spec)
    message = str(error.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "fetch_weights" in message and str(tmp_path / "keras-home" / "models") in message
    with pytest.raises(WeightsUnavailable, match="small-cnn"):
        backend.check_weights(replace(SPEC, pretrained=True))
    cached = backend.weights_path("resnet50")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    backend.check_weights(spec)  # found: no error
    backend.check_weights(replace(SPEC, pretrained=False))


# ------------------------------------------------------------------ GPU path, Keras side
def test_every_random_layer_has_its_own_seed():
    model = small_model()
    seeds = kp.layer_seeds(0, kp.RANDOM_LAYERS)
    assert len(set(seeds.values())) == len(seeds)  # no two layers share a stream
    assert model.get_layer("augment").seed == seeds["augment"]
    assert kp.layer_seeds(1, kp.RANDOM_LAYERS) != seeds  # another job, other streams
    # The two dropout masks do not nest: some unit dropped by the first survives the second.
    ones = np.ones((64, 512), dtype="float32")
    first = keras.ops.convert_to_numpy(model.get_layer("head_dropout1")(ones, training=True))
    second = keras.ops.convert_to_numpy(model.get_layer("head_dropout2")(ones, training=True))
    assert ((first == 0) & (second != 0)).any() and ((first != 0) & (second == 0)).any()
    if keras.backend.backend() != "torch":  # one SeedGenerator per layer, seeded once
        assert model.get_layer("head_dropout2").seed == seeds["head_dropout2"]


def test_decode_once_cache_gives_the_same_batches(data):
    from workers.training.image_cache import decode_all

    cache = decode_all([p for p, _ in data.valid], 32)
    assert cache.dtype == np.uint8 and cache.shape == (len(data.valid), 32, 32, 3)
    cached = kp.ImageBatches(data.valid, 32, 4, cache=cache)
    plain = kp.ImageBatches(data.valid, 32, 4)
    for i in range(len(plain)):
        (xc, yc), (xp, yp) = cached[i], plain[i]
        np.testing.assert_array_equal(xc, xp)
        np.testing.assert_array_equal(yc, yp)
    with pytest.raises(ValueError, match="cache holds"):
        kp.ImageBatches(data.train, 32, 4, cache=cache)


def test_precision_cache_and_optimizer_settings_reach_keras(data, tmp_path, monkeypatch):
    from workers.training import keras_backend as kb

    built, compiled = [], []
    real_build, real_compile = kp.build_model, kb.compile_for

    def spy_build(*args, **kwargs):
        built.append(real_build(*args, **kwargs))
        return built[-1]

    def spy_compile(model, lr, spec, multipliers=None, one_cycle=False):
        real_compile(model, lr, spec, multipliers, one_cycle)
        compiled.append((type(model.optimizer).__name__, model.jit_compile))

    monkeypatch.setattr(kp, "build_model", spy_build)
    monkeypatch.setattr(kb, "compile_for", spy_compile)
    spec = replace(SPEC, precision="bf16-mixed", run_lr_finder=False, one_cycle=False)
    reporter = MemoryReporter()
    result = KerasBackend().train(spec, data, reporter, tmp_path)
    model = built[0]
    conv = kp.body_of(model).get_layer("block1_conv")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.kernel.dtype == "float32"
    assert model.get_layer("head_output").dtype_policy.name == "float32"
    assert model.get_layer("preprocess").dtype_policy.name == "float32"
    assert model.get_layer("augment").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # restored for later models
    # the test set is predicted (and the model saved) in float32, as fastai's
    assert len(built) == 2 and kp.body_of(built[1]).get_layer("block1_conv").compute_dtype == (
        "float32"
    )
    saved = keras.saving.load_model(result.model_path, compile=False)
    assert kp.body_of(saved).get_layer("block1_conv").dtype_policy.name == "float32"
    np.testing.assert_allclose(np.sum(result.test_probabilities, axis=1), 1, atol=1e-3)
    # no one-cycle, no discriminative rates: the stock Adam; compiled steps off (CPU spec)
    assert compiled == [("Adam", False), ("Adam", False)]
    assert any("decode-once cache on" in m and "bf16-mixed" in m for m in reporter.messages)
    for row in reporter.epochs:  # images/s is measured on the training pass only
        assert 0 < row["train_seconds"] <= row["seconds"]
