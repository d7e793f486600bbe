"""fastai's batch augmentation without device->host reads.

Three spots of fastai.vision.augment read a value back from the device on every batch, which
stalls a GPU stream until the batch is done:

- `_grid_sample` reads the zoom of the coordinates (`.item()`) to decide whether to shrink the
  image first; it can only do so when the input is more than twice the output size, which a
  batch transform on same-size images never is. Replaced: the sizes are checked first.
- `apply_perspective` (warp) falls back to the unwarped coordinates when a point lands at
  infinity (`if (...).any():`). Replaced: the same choice made on the device (torch.where).
- `find_coeffs` (warp coefficients) solves an 8x8 system per image with `torch.linalg.solve`,
  whose singular-matrix check reads back; `solve_ex` without the check still read back twice
  per batch inside torch's CPU lu_solve. Replaced: the homography through four points in
  closed form (Heckbert's square-to-quad, "Fundamentals of Texture Mapping and Image
  Warping", 1989, §2.2.3), elementwise on the batch: no linear algebra kernel, no read.

Same results as fastai's (tests/workers/test_fastai_augment.py); applied once per process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fastai.vision import augment

_FASTAI = {
    "_grid_sample": augment._grid_sample,
    "apply_perspective": augment.apply_perspective,
    "find_coeffs": augment.find_coeffs,
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


def square_to_quad(q: torch.Tensor) -> torch.Tensor:
    """(bs, 3, 3) homographies taking the unit square's corners (0,0), (0,1), (1,0), (1,1)
    to q[:, 0], q[:, 1], q[:, 2], q[:, 3] (q: (bs, 4, 2), fastai's corner order)."""
    # Heckbert's formula walks the corners in turn: (0,0), (1,0), (1,1), (0,1)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (q[:, i].unbind(-1) for i in (0, 2, 3, 1))
    sx, sy = x0 - x1 + x2 - x3, y0 - y1 + y2 - y3  # both 0 for a parallelogram (affine)
    dx1, dx2, dy1, dy2 = x1 - x2, x3 - x2, y1 - y2, y3 - y2
    den = dx1 * dy2 - dx2 * dy1
    g = (sx * dy2 - dx2 * sy) / den
    h = (dx1 * sy - sx * dy1) / den
    rows = [
        x1 - x0 + g * x1, x3 - x0 + h * x3, x0,
        y1 - y0 + g * y1, y3 - y0 + h * y3, y0,
        g, h, torch.ones_like(g),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).view(-1, 3, 3)


def adjugate(m: torch.Tensor) -> torch.Tensor:
    """The adjugate of (bs, 3, 3) matrices: the inverse up to a factor, which a homography
    does not care about."""
    (a, b, c), (d, e, f), (g, h, i) = (row.unbind(-1) for row in m.unbind(-2))
    rows = [
        e * i - f * h, c * h - b * i, b * f - c * e,
        f * g - d * i, a * i - c * g, c * d - a * f,
        d * h - e * g, b * g - a * h, a * e - b * d,
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).view(-1, 3, 3)


def find_coeffs(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """fastai's find_coeffs: the 8 coefficients (bs, 8, 1) of the homography taking each
    p2[:, i] to p1[:, i], the ninth fixed at 1. Square -> p2 undone, then square -> p1.
    In the points' precision even under autocast (a bf16 product would move the warp)."""
    with torch.autocast(p1.device.type, enabled=False):
        m = square_to_quad(p1) @ adjugate(square_to_quad(p2))
    return (m / m[:, 2:, 2:]).flatten(1)[:, :8].unsqueeze(-1)


def install() -> None:
    augment._grid_sample = _grid_sample
    augment.apply_perspective = apply_perspective
    augment.find_coeffs = find_coeffs


def uninstall() -> None:
    for name, function in _FASTAI.items():
        setattr(augment, name, function)
