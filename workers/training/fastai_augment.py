"""fastai's batch augmentation without device->host reads.

Three spots of fastai.vision.augment read a value back from the device on every batch, which
stalls a GPU stream until the batch is done:

- `_grid_sample` reads the zoom of the coordinates (`.item()`) to decide whether to shrink the
  image first; it can only do so when the input is more than twice the output size, which a
  batch transform on same-size images never is. Replaced: the sizes are checked first.
- `apply_perspective` (warp) falls back to the unwarped coordinates when a point lands at
  infinity (`if (...).any():`). Replaced: the same choice made on the device (torch.where).
- `solve` (warp coefficients) checks for singular matrices (`torch.linalg.solve`). Replaced:
  `solve_ex` without the check (four distinct points always give a solvable system).

Same results as fastai's (tests/workers/test_fastai_augment.py); applied once per process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fastai.vision import augment

_FASTAI = {
    "_grid_sample": augment._grid_sample,
    "apply_perspective": augment.apply_perspective,
    "solve": augment.solve,
}


def _grid_sample(x, coords, mode="bilinear", padding_mode="reflection", align_corners=None):
    d = min(x.shape[-2] / coords.shape[-2], x.shape[-1] / coords.shape[-1]) / 2
    if mode == "bilinear" and d > 1:  # only then does fastai's zoom check matter
        return _FASTAI["_grid_sample"](x, coords, mode, padding_mode, align_corners)
    return F.grid_sample(
        x, coords, mode=mode, padding_mode=padding_mode, align_corners=align_corners
    )


def apply_perspective(coords, coeffs):
    size = coords.shape
    coords = coords.view(size[0], -1, 2)
    coeffs = torch.cat([coeffs, torch.ones_like(coeffs[:, :1])], dim=1).view(coeffs.shape[0], 3, 3)
    coords1 = coords @ coeffs[..., :2].transpose(1, 2) + coeffs[..., 2].unsqueeze(1)
    at_infinity = (coords1[..., 2] == 0.0).any()
    warped = coords1 / coords1[..., 2].unsqueeze(-1)
    return torch.where(at_infinity, coords, warped[..., :2]).view(*size)


def solve(A, B):
    return torch.linalg.solve_ex(A, B)[0]


def install() -> None:
    augment._grid_sample = _grid_sample
    augment.apply_perspective = apply_perspective
    augment.solve = solve


def uninstall() -> None:
    for name, function in _FASTAI.items():
        setattr(augment, name, function)
