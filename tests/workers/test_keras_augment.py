"""keras_augment.BatchAugment: the ranges of its draws, independent random streams, one float32
resample equal to Keras's own affine_transform, identity at inference; on this process's Keras
backend (TensorFlow when installed) and, in a fresh process, on torch.

Runs in its own process (scripts/test.sh, stage 2): TensorFlow and torch never share one.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers.training.keras_backend import load_keras

pytestmark = pytest.mark.slow

keras = load_keras()  # tensorflow when installed, else torch
from keras import ops  # noqa: E402  (after load_keras chose the backend)

from workers.training import keras_augment as ka  # noqa: E402

BATCHES, BATCH = 40, 32


def draws(layer: ka.BatchAugment, batches: int = BATCHES) -> dict[str, np.ndarray]:
    """Every parameter of `batches` batches, concatenated."""
    drawn = [layer.parameters(BATCH) for _ in range(batches)]
    return {k: np.concatenate([ops.convert_to_numpy(d[k]) for d in drawn]) for k in drawn[0]}


def test_draws_keep_the_configured_ranges():
    p = draws(ka.BatchAugment(seed=7))
    n = BATCHES * BATCH
    bounds = {
        "angle": (-ka.ROTATION * 2 * math.pi, ka.ROTATION * 2 * math.pi),
        "zoom": (1 - ka.ZOOM, 1 + ka.ZOOM),
        "shear_x": (-ka.SHEAR, ka.SHEAR),
        "shear_y": (-ka.SHEAR, ka.SHEAR),
        "brightness": (-ka.BRIGHTNESS * 255, ka.BRIGHTNESS * 255),
    }
    for name, (low, high) in bounds.items():
        values = p[name]
        assert values.shape == (n,)
        assert low <= values.min() and values.max() <= high, name
        width = high - low
        # uniform over the range: reaches near both ends, centred, spread like a uniform
        assert values.min() < low + 0.02 * width and values.max() > high - 0.02 * width, name
        assert abs(values.mean() - (low + high) / 2) < 0.05 * width, name
        assert values.std() == pytest.approx(width / math.sqrt(12), rel=0.1), name
    for flip in ("flip_h", "flip_v"):
        assert set(np.unique(p[flip])) == {0.0, 1.0}
        assert abs(p[flip].mean() - 0.5) < 0.06
    # the parameters of one image are independent of each other
    assert abs(np.corrcoef(p["angle"], p["zoom"])[0, 1]) < 0.1


def test_random_streams_do_not_overlap_and_reproduce():
    seeds = ka.layer_seeds(3, ["a", "b"])
    assert seeds == ka.layer_seeds(3, ["a", "b"]) and seeds["a"] != seeds["b"]
    a, b = (ka.BatchAugment(seed=seeds[k]) for k in "ab")
    first, second = draws(a, 6), draws(b, 6)
    # two layers of one job: no value of one stream appears in the other
    assert not set(first["angle"].tolist()) & set(second["angle"].tolist())
    assert not np.isclose(first["zoom"][:, None], second["zoom"][None, :], rtol=0, atol=0).any()
    # batches within a stream differ, and the same seed gives the same sequence again
    assert not np.array_equal(first["angle"][:BATCH], first["angle"][BATCH : 2 * BATCH])
    again = draws(ka.BatchAugment(seed=seeds["a"]), 6)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])


def test_one_resample_matches_keras_affine_transform():
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 20, 3)).astype("float32")
    n = len(x)
    p = {
        "flip_h": np.array([0, 1, 0, 1], "float32"),
        "flip_v": np.array([0, 0, 1, 1], "float32"),
        "angle": np.array([0.3, -0.2, 0.1, 0.0], "float32"),
        "zoom": np.array([1.1, 0.9, 1.0, 1.05], "float32"),
        "shear_x": np.array([0.05, -0.1, 0.0, 0.08], "float32"),
        "shear_y": np.array([-0.05, 0.02, 0.1, 0.0], "float32"),
    }
    matrices = ka.affine_matrices({k: ops.convert_to_tensor(v) for k, v in p.items()})
    ours = ops.convert_to_numpy(ka.resample(ops.convert_to_tensor(x), matrices))
    a00, a01, a10, a11 = (ops.convert_to_numpy(m) for m in matrices)
    cx, cy = (20 - 1) / 2, (16 - 1) / 2  # about the centre: offsets of Keras's 8-vector form
    transforms = np.stack(
        [a00, a01, cx - a00 * cx - a01 * cy, a10, a11, cy - a10 * cx - a11 * cy]
        + [np.zeros(n, "float32")] * 2,
        axis=1,
    )
    reference = ops.convert_to_numpy(
        ops.image.affine_transform(x, transforms, fill_mode="reflect", interpolation="bilinear")
    )
    assert np.abs(ours - reference).mean() < 0.05  # 0-255 values
    assert np.percentile(np.abs(ours - reference), 99) < 1.0
    # pure flips are exact
    flips = {**{k: np.zeros(n, "float32") for k in p}, "zoom": np.ones(n, "float32")}
    flips["flip_h"] = np.array([1, 0, 1, 0], "float32")
    flips["flip_v"] = np.array([0, 1, 1, 0], "float32")
    flipped = ops.convert_to_numpy(
        ka.resample(
            ops.convert_to_tensor(x),
            ka.affine_matrices({k: ops.convert_to_tensor(v) for k, v in flips.items()}),
        )
    )
    for got, image, (h, v) in zip(flipped, x, [(1, 0), (0, 1), (1, 1), (0, 0)], strict=True):
        expected = image[:, ::-1] if h else image
        np.testing.assert_array_equal(got, expected[::-1] if v else expected)


def test_float32_under_bf16_identity_at_inference_and_a_reloadable_config():
    x = np.random.default_rng(1).uniform(0, 255, (8, 12, 12, 3)).astype("float32")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = ka.BatchAugment(seed=1)
    finally:
        keras.config.set_dtype_policy(previous)
    out = layer(ops.cast(x, "bfloat16"), training=True)
    assert ops.dtype(out) == "float32" and tuple(out.shape) == x.shape
    out = ops.convert_to_numpy(out)
    assert 0 <= out.min() and out.max() <= 255 and not np.allclose(out, x, atol=1)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)
    copy = ka.BatchAugment.from_config(layer.get_config())
    assert (copy.seed, copy.rotation, copy.zoom, copy.shear, copy.brightness) == (
        1,
        ka.ROTATION,
        ka.ZOOM,
        ka.SHEAR,
        ka.BRIGHTNESS,
    )


def test_brightness_moves_a_grey_image_within_its_range():
    grey = np.full((64, 8, 8, 3), 128.0, dtype="float32")
    out = ops.convert_to_numpy(ka.BatchAugment(seed=2)(grey, training=True))
    shifts = out[:, 0, 0, 0] - 128  # a flat image: only brightness changes it
    np.testing.assert_allclose(
        out, np.broadcast_to(shifts[:, None, None, None] + 128, out.shape), atol=1e-3
    )
    assert np.abs(shifts).max() <= 25.5 + 1e-3 and np.ptp(shifts) > 20


def test_compiles_with_xla_on_tensorflow():
    """No per-image loop, no host arrays, static shapes: XLA compiles the layer, and its
    SeedGenerator advances inside the compiled function (two calls, two draws)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("XLA is TensorFlow's; torch.compile is checked in test_keras_backend")
    import tensorflow as tf

    layer = ka.BatchAugment(seed=4)
    step = tf.function(lambda images: layer(images, training=True), jit_compile=True)
    x = np.random.default_rng(2).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    first, second = step(x).numpy(), step(x).numpy()
    assert first.shape == x.shape and np.isfinite(first).all()
    assert not np.array_equal(first, second)
    assert "HloModule" in step.experimental_get_compiler_ir(x)(stage="hlo")  # XLA's program


TORCH_AUGMENT = """
import importlib.abc, importlib.util, json, sys

class NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, NoTensorFlow())
from workers.training.keras_backend import load_keras
keras = load_keras("torch")
keras.utils.set_random_seed(0)
import numpy as np
import torch
from keras import ops  # noqa: E402  (after load_keras chose the backend)
from workers.training import keras_augment as ka  # noqa: E402

layer = ka.BatchAugment(seed=0)
angles = [ops.convert_to_numpy(layer.parameters(32)["angle"]) for _ in range(40)]
keras.utils.set_random_seed(1)  # the global generators do not move a layer's stream
again = ops.convert_to_numpy(ka.BatchAugment(seed=0).parameters(32)["angle"])
x = torch.rand(32, 64, 64, 3) * 255

# two layers of one job: distinct seeds, streams that neither share values nor shift each other
seeds = ka.layer_seeds(0, ["a", "b"])
a, b, b_alone = (ka.BatchAugment(seed=seeds[k]) for k in "abb")
alone = [ops.convert_to_numpy(b_alone.parameters(32)["zoom"]) for _ in range(3)]
a_values, interleaved = [], []
for _ in range(3):
    a_values.append(ops.convert_to_numpy(a.parameters(32)["zoom"]))
    interleaved.append(ops.convert_to_numpy(b.parameters(32)["zoom"]))
global_state = torch.get_rng_state()
same_seed = [ka.BatchAugment(seed=seeds["a"])(x, training=True) for _ in range(2)]

# compiled (AOT autograd, as inductor sees it): no graph break, the eager layer's batches
import torch._dynamo
from torch._dynamo.utils import counters

compiled, eager = ka.BatchAugment(seed=5), ka.BatchAugment(seed=5)
compiled(x[:2], training=True), eager(x[:2], training=True)  # built outside, as in a model
counters.clear()
step = torch.compile(lambda images: compiled(images, training=True), backend="aot_eager")
compiled_batches = [step(x) for _ in range(2)]
eager_batches = [eager(x, training=True) for _ in range(2)]

layer(x, training=True)
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    out = layer(x.to(torch.bfloat16), training=True)
ops_launched = [e for e in prof.events() if e.name.startswith("aten::")
                and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
angles = np.concatenate(angles)
print(json.dumps({
    "dtype": str(out.dtype), "within": bool(np.abs(angles).max() <= 0.05 * 2 * np.pi),
    "centred": bool(abs(angles.mean()) < 0.05 * 0.05 * 4 * np.pi),
    "reproducible": bool(np.array_equal(again, angles[:32])),
    "distinct_seeds": seeds["a"] != seeds["b"],
    "same_seed_same_batch": bool(torch.equal(*same_seed)),
    "streams_independent": all(np.array_equal(p, q) for p, q in zip(alone, interleaved)),
    "no_shared_values": not set(np.concatenate(a_values)) & set(np.concatenate(alone)),
    "global_generator_untouched": bool(torch.equal(global_state, torch.get_rng_state())),
    "compiled_like_eager": all(torch.equal(p, q) for p, q in zip(compiled_batches, eager_batches)),
    "compiled_batches_differ": not torch.equal(*compiled_batches),
    "graph_breaks": sum(counters["graph_break"].values()),
    "batches_differ": bool(not np.array_equal(angles[:32], angles[32:64])),
    "few_ops": len(ops_launched) <= 300,
    "tensorflow_imported": "tensorflow" in sys.modules}))
"""


def test_torch_backend_draws_on_the_device_in_one_batch_call():
    """Keras on torch (a fresh process, TensorFlow unimportable): the same ranges, float32 out
    of bf16 in, a few hundred operators per batch of 32 at 64 px (Keras's five layers launched
    ~11,000). Each layer draws from its own generator seeded from its seed: the same seed gives
    the same batches, two layers of a job neither share values nor shift each other's stream,
    torch's global generator (dropout's) is left alone, and torch.compile keeps the draw in its
    graph with the eager layer's values."""
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", TORCH_AUGMENT],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "KERAS_BACKEND": "torch"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out == {
        "dtype": "torch.float32",
        "within": True,
        "centred": True,
        "reproducible": True,
        "distinct_seeds": True,
        "same_seed_same_batch": True,
        "streams_independent": True,
        "no_shared_values": True,
        "global_generator_untouched": True,
        "compiled_like_eager": True,
        "compiled_batches_differ": True,
        "graph_breaks": 0,
        "batches_differ": True,
        "few_ops": True,
        "tensorflow_imported": False,
    }
