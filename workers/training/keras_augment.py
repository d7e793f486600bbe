"""Thesis §4.2.2 augmentation for Keras as one batched layer: every image's flip, rotation, zoom
and shear are drawn for the whole batch at once, composed into one affine matrix per image, and
the batch is resampled once (bilinear, reflect fill, float32); brightness is added after.

It replaces Keras's five preprocessing layers, which on the torch backend loop per image
(~12,000 kernel launches per batch of 32), resample three times in the compute dtype (bf16
under mixed precision), and seed every draw on the host. Each layer draws from its own
stream, seeded once from the job's seed. Imports keras: load it only after `KERAS_BACKEND` is
set (keras_backend.load_keras).
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np
from keras import layers, ops

# Table 4.1's augmentation as Keras 3 parameterised it before (RandomFlip("horizontal_and_
# vertical"), RandomRotation(0.05), RandomZoom(0.1), RandomShear(0.1, 0.1), RandomBrightness(0.1)
# on 0-255): the same family and ranges.
ROTATION = 0.05  # fraction of a full turn: +-18 degrees
ZOOM = 0.1  # scale of the sampled area 0.9-1.1 (>1 zooms out), the same on both axes
SHEAR = 0.1  # x and y shear factors, each in +-0.1
BRIGHTNESS = 0.1  # fraction of the 0-255 range added to every pixel of an image: +-25.5
PARAMETERS = ("flip_h", "flip_v", "angle", "zoom", "shear_x", "shear_y", "brightness")


def layer_seeds(job_seed: int, names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """One independent seed per random layer of a job: children of the job's SeedSequence, so
    no two layers (and no two jobs) share or shift into each other's stream. Fits an int32."""
    children = np.random.SeedSequence(job_seed).spawn(len(names))
    return {
        name: int(child.generate_state(1)[0] >> 1)
        for name, child in zip(names, children, strict=True)
    }


if keras.backend.backend() == "torch":  # never import torch beside TensorFlow
    import torch
    from keras.src.backend.torch.core import get_device

    from .torch_streams import new_stream, stream_uniform


def _uniform(shape, layer: BatchAugment):
    """Uniform [0, 1) floats drawn on the device from the layer's own stream, no host trip.

    TensorFlow (and JAX): Keras's stateless generator keyed by the layer's SeedGenerator,
    whose state advances in the graph (XLA compiles it). torch: Keras would seed a new
    torch.Generator from that state on the host for every draw (a device->host read and a
    torch.compile graph break each time), so the layer draws from its own torch generator,
    seeded once (torch_streams), through an operator torch.compile keeps in the graph."""
    if keras.backend.backend() == "torch":
        return stream_uniform(shape, layer.torch_stream, torch.device(get_device()))
    return keras.random.uniform(shape, seed=layer.seed_generator)


@keras.saving.register_keras_serializable(package="thesis")
class BatchAugment(layers.Layer):
    """Random flips (horizontal and vertical), rotation, zoom and shear about the image
    centre in one resample, then brightness; float32 throughout, identity at inference.

    Expects NHWC images of raw 0-255 values (what ImageBatches yields)."""

    def __init__(
        self,
        rotation: float = ROTATION,
        zoom: float = ZOOM,
        shear: float = SHEAR,
        brightness: float = BRIGHTNESS,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")  # resample in float32 whatever the policy
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.shear, self.brightness = rotation, zoom, shear, brightness
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)  # once per layer, not per call
        if keras.backend.backend() == "torch":
            # unseeded: a seed from Python's generator, which keras.utils.set_random_seed seeds
            self.torch_stream = new_stream(seed if seed is not None else random.getrandbits(31))

    def parameters(self, batch_size) -> dict:
        """This batch's draws, one value per image: flips (0/1), angle (radians), zoom, shears,
        brightness (added 0-255 value). One random call for the whole batch."""
        u = ops.cast(_uniform((batch_size, len(PARAMETERS)), self), "float32")

        def spread(column: int, half_width: float):
            return (2.0 * u[:, column] - 1.0) * half_width

        return {
            "flip_h": ops.cast(u[:, 0] < 0.5, "float32"),
            "flip_v": ops.cast(u[:, 1] < 0.5, "float32"),
            "angle": spread(2, self.rotation * 2 * math.pi),
            "zoom": 1.0 + spread(3, self.zoom),
            "shear_x": spread(4, self.shear),
            "shear_y": spread(5, self.shear),
            "brightness": spread(6, self.brightness * 255.0),
        }

    def call(self, images, training=None):
        if not training:
            return images
        x = ops.cast(images, "float32")
        p = self.parameters(ops.shape(x)[0])
        x = resample(x, affine_matrices(p)) + ops.reshape(p["brightness"], (-1, 1, 1, 1))
        return ops.cast(ops.clip(x, 0.0, 255.0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "shear": self.shear,
            "brightness": self.brightness,
            "seed": self.seed,
        }


def affine_matrices(p: dict) -> tuple:
    """(a00, a01, a10, a11): for each image, the 2x2 map from an output pixel (centred
    coordinates) to the input point it samples, flip . rotation . zoom . shear, the order in
    which the separate layers applied them."""
    cos, sin = ops.cos(p["angle"]), ops.sin(p["angle"])
    sx, sy, z = p["shear_x"], p["shear_y"], p["zoom"]
    fh, fv = 1.0 - 2.0 * p["flip_h"], 1.0 - 2.0 * p["flip_v"]
    return (
        fh * z * (cos - sin * sy),
        fh * z * (cos * sx - sin),
        fv * z * (sin + cos * sy),
        fv * z * (sin * sx + cos),
    )


def _reflect(coordinate, size: int):
    """Map a coordinate into [0, size - 1] by reflecting about the outer pixel edges
    (d c b a | a b c d | d c b a), Keras's and TensorFlow's "reflect" fill mode."""
    period = 2.0 * size
    t = coordinate + 0.5
    t = t - period * ops.floor(t / period)
    t = ops.where(t > size, period - t, t)
    return ops.clip(t - 0.5, 0.0, size - 1.0)


def resample(images, matrices: tuple):
    """Bilinear resampling of a NHWC float32 batch, each image through its own affine map about
    the centre: four gathers for the whole batch, static shapes (XLA and torch.compile)."""
    _, height, width, channels = images.shape
    a00, a01, a10, a11 = (ops.reshape(a, (-1, 1, 1)) for a in matrices)
    # output pixel coordinates about the centre, built in the graph (no host arrays)
    gx = ops.reshape(ops.arange(width, dtype="float32") - (width - 1) / 2, (1, 1, width))
    gy = ops.reshape(ops.arange(height, dtype="float32") - (height - 1) / 2, (1, height, 1))
    src_x = _reflect((width - 1) / 2 + a00 * gx + a01 * gy, width)
    src_y = _reflect((height - 1) / 2 + a10 * gx + a11 * gy, height)
    x0, y0 = ops.floor(src_x), ops.floor(src_y)
    wx, wy = ops.reshape(src_x - x0, (-1, 1)), ops.reshape(src_y - y0, (-1, 1))
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)
    # one flat pixel table for the batch: image b's pixel (y, x) is row b*H*W + y*W + x
    flat = ops.reshape(images, (-1, channels))
    first = ops.arange(ops.shape(images)[0], dtype="int32") * (height * width)
    first = ops.reshape(first, (-1, 1, 1))

    def pixels(y, x):
        return ops.take(flat, ops.reshape(first + y * width + x, (-1,)), axis=0)

    top_left, top_right = pixels(y0, x0), pixels(y0, x1)
    bottom_left, bottom_right = pixels(y1, x0), pixels(y1, x1)
    top = top_left + wx * (top_right - top_left)
    bottom = bottom_left + wx * (bottom_right - bottom_left)
    return ops.reshape(top + wy * (bottom - top), ops.shape(images))
