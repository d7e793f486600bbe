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


SQUARE = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])  # fastai's order


def warp_targets(batch: int, magnitude: float, generator: torch.Generator) -> torch.Tensor:
    """The corners fastai's _WarpCoord draws (each side moved by up to `magnitude`)."""
    x_t, y_t = ((torch.rand(2, batch, generator=generator) * 2 - 1) * magnitude).unbind(0)
    corners = [(-1 - y_t, -1 - x_t), (-1 + y_t, 1 + x_t), (1 + y_t, -1 + x_t), (1 - y_t, 1 - x_t)]
    return torch.stack([torch.stack(c, dim=-1) for c in corners], dim=1)


@pytest.mark.parametrize("magnitude", [0.0, 0.2, 0.6])
def test_warp_coefficients_equal_fastais_linear_solve(magnitude):
    generator = torch.Generator().manual_seed(7)
    targets = warp_targets(64, magnitude, generator)
    square = SQUARE.expand(64, 4, 2)
    for p1, p2 in ((square, targets), (targets, square)):  # the warp and its inverse
        theirs = fastai_augment._FASTAI["find_coeffs"](p1, p2)
        ours = fastai_augment.find_coeffs(p1, p2)
        assert ours.shape == theirs.shape == (64, 8, 1)
        assert torch.allclose(ours, theirs, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # never a bf16 product
            assert torch.allclose(fastai_augment.find_coeffs(p1, p2), theirs, atol=1e-5)
    # any four points in general position, not only a square and its warp (float64: exact)
    p1 = (SQUARE * 2 + torch.rand(32, 4, 2, generator=generator) - 0.5).double()
    p2 = (SQUARE * 2 + torch.rand(32, 4, 2, generator=generator) - 0.5).double()
    theirs = fastai_augment._FASTAI["find_coeffs"](p1, p2)
    assert torch.allclose(fastai_augment.find_coeffs(p1, p2), theirs, rtol=0, atol=1e-10)


def test_warp_coefficients_launch_no_solver_and_read_nothing_back():
    targets = warp_targets(32, 0.2, torch.Generator().manual_seed(3))
    square = SQUARE.expand(32, 4, 2)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fastai_augment.find_coeffs(targets, square)
    names = {event.name for event in prof.events()}
    assert not {n for n in names if "linalg" in n or "lu_" in n}
    assert not names & {"aten::_local_scalar_dense", "aten::item", "aten::nonzero"}
    # fastai's own does both: the test can tell
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fastai_augment._FASTAI["find_coeffs"](targets, square)
    assert any("linalg" in event.name for event in prof.events())
