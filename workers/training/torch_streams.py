"""Independent random streams on torch, one per random layer, that torch.compile keeps in its
graph.

Keras on torch seeds a fresh torch.Generator from a layer's SeedGenerator for every draw (a
device->host read, and seed + counter streams that overlap between layers); torch's global
generator is one stream shared by every layer. Here each stream owns a torch.Generator per
device, seeded once from the layer's seed (a SeedSequence child of the job's seed:
keras_augment.layer_seeds), so one layer's draws never shift or repeat another's. Dynamo
cannot pass a Generator into a graph (a graph break per call), so the draw is a custom operator
that names its stream by number: the compiled step calls it like any other operator.

Imports torch: only for the torch backend of Keras (keras_augment loads it then).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

_SEEDS: dict[int, int] = {}
_GENERATORS: dict[tuple[int, str], torch.Generator] = {}
_NUMBERS = itertools.count()


def new_stream(seed: int) -> int:
    """A new stream seeded with `seed`; two streams with one seed give the same values."""
    number = next(_NUMBERS)
    _SEEDS[number] = seed
    return number


def generator(stream: int, device: torch.device) -> torch.Generator:
    """The stream's generator on `device`, created (and seeded, on the host) at first use."""
    key = (stream, str(device))
    if key not in _GENERATORS:
        _GENERATORS[key] = torch.Generator(device=device).manual_seed(_SEEDS[stream])
    return _GENERATORS[key]


@torch.library.custom_op(
    "thesis::stream_uniform",
    mutates_args=(),
    # a random draw: compilers must neither merge two calls nor replay one in the backward
    tags=(torch.Tag.nondeterministic_seeded,),
)
def stream_uniform(shape: Sequence[int], stream: int, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) float32 values from `stream`, drawn on `device` (no host round trip)."""
    return torch.rand(tuple(shape), generator=generator(stream, device), device=device)


@stream_uniform.register_fake
def _(shape, stream, device):
    return torch.empty(tuple(shape), device=device)
