"""Grad-CAM maps drawn over the image (numpy + PIL only: no deep-learning import here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MIN_SIDE = 256  # small images (the 32 px demo) are enlarged so the map can be seen

# A "jet"-like ramp: blue (ignored) -> cyan -> yellow -> red (what the class score used most).
_STOPS = np.array(
    [[0, 0, 128], [0, 128, 255], [0, 255, 255], [255, 255, 0], [255, 64, 0], [192, 0, 0]],
    dtype=np.float64,
)


def colorize(cam: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB (uint8)."""
    cam = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float64)), 0, 1)
    pos = cam * (len(_STOPS) - 1)
    low = np.floor(pos).astype(int).clip(0, len(_STOPS) - 2)
    frac = (pos - low)[..., None]
    return ((1 - frac) * _STOPS[low] + frac * _STOPS[low + 1]).astype(np.uint8)


def normalize(cam: np.ndarray) -> np.ndarray:
    cam = np.maximum(np.asarray(cam, dtype=np.float64), 0)
    top = cam.max()
    return cam / top if top > 0 else cam


def write_overlay(image_path: Path, cam: np.ndarray, out: Path, alpha: float = 0.45) -> Path:
    """The image with the normalised map blended over it, saved as PNG at `out`."""
    with Image.open(image_path) as image:
        image = image.convert("RGB")
        scale = max(1.0, MIN_SIDE / min(image.size))
        size = (round(image.size[0] * scale), round(image.size[1] * scale))
        image = image.resize(size, Image.BILINEAR)
    heat = Image.fromarray((normalize(cam) * 255).astype(np.uint8)).resize(size, Image.BILINEAR)
    colored = Image.fromarray(colorize(np.asarray(heat, dtype=np.float64) / 255))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.blend(image, colored, alpha).save(out, format="PNG")
    return out
