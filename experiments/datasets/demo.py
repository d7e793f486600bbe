"""A small real-image dataset for first runs: scikit-learn's bundled handwritten digits."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(target: Path, per_class: int = 60, size: int = 32, classes: int = 10) -> int:
    """Write `per_class` PNGs of each digit (upscaled RGB) as <digit>/<n>.png. Returns count."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    written = 0
    for label in range(classes):
        folder = target / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        indices = np.flatnonzero(digits.target == label)[:per_class]
        for n, index in enumerate(indices):
            pixels = (digits.images[index] / 16.0 * 255).astype(np.uint8)
            image = Image.fromarray(pixels, mode="L").resize((size, size), Image.NEAREST)
            image.convert("RGB").save(folder / f"{n:03d}.png")
            written += 1
    return written
