"""Decode once: every image of a job decoded and resized a single time, kept as uint8.

Both libraries read their batches from the same array (the ISIC training split at 256 px is
about 300 MB), so no epoch decodes a JPEG again and both see exactly the same pixels.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .failures import JobFailure


def load_image(path: Path, size: int) -> np.ndarray:
    """RGB, squashed to size x size with bilinear filtering, uint8 (H, W, 3)."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB").resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise JobFailure(
            f"Could not read image {path}: {exc}. Re-import the dataset (the import skips "
            "unreadable files) or restore the file."
        ) from exc


def decode_all(paths: list[Path], size: int, threads: int | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 for `paths`, in order; PIL releases the GIL while decoding."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    threads = threads or min(8, os.cpu_count() or 1)

    def fill(i: int) -> None:
        out[i] = load_image(paths[i], size)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fill, range(len(paths))))
    return out
