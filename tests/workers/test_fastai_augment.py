"""fastai's batch augmentation, made free of device->host reads, gives fastai's own results."""

from __future__ import annotations

import random

import pytest
import torch
from fastai.vision.augment import aug_transforms
from fastai.vision.core import TensorImage
from fasttransform import Pipeline

from workers.training import fastai_augment

pytestmark = pytest.mark.slow


def augmented(seed: int) -> torch.Tensor:
    pipeline = Pipeline(aug_transforms(flip_vert=True, p_affine=1.0, p_lighting=1.0), split_idx=0)
    random.seed(seed)
    torch.manual_seed(seed)
    batch = TensorImage(torch.rand(6, 3, 24, 24, generator=torch.Generator().manual_seed(seed)))
    return pipeline(batch)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_pixels_as_fastai(seed):
    try:
        fastai_augment.uninstall()
        theirs = augmented(seed)
    finally:
        fastai_augment.install()
    ours = augmented(seed)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.equal(
        ours, torch.rand(6, 3, 24, 24, generator=torch.Generator().manual_seed(seed))
    )


def test_warp_at_infinity_keeps_the_coordinates_like_fastai():
    coords = torch.rand(2, 4, 4, 2)
    flat = torch.zeros(2, 8)  # every point maps to z = 0
    expected = fastai_augment._FASTAI["apply_perspective"](coords, flat)
    assert torch.equal(fastai_augment.apply_perspective(coords, flat), expected)
