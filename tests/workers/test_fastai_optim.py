"""The fused/foreach AdamW wrapper makes the same update as fastai's own Adam.

Two identical models learn from identical batches through a fastai Learner: phase 1 frozen
(one-cycle, β1 scheduled), phase 2 unfrozen with discriminative rates, BatchNorm and biases
without weight decay. Their parameters must agree to 1e-6 (they agree to 6e-8 here, 1, 2 or
4 threads).
"""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
from fastai.callback.core import Callback
from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches Learner)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.optimizer import Adam
from fastai.torch_core import params
from torch import nn

from workers.training.fastai_optim import FusedAdamW

pytestmark = pytest.mark.slow


def tiny_model() -> nn.Sequential:
    """Convolutions without a bias before BatchNorm, as in ResNet, VGG-BN and DenseNet: such a
    bias gets a zero gradient up to rounding, which Adam scales up to full-size steps, so two
    correct implementations that sum in another order part by ~1e-6 there alone."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)),
    )


def split(model: nn.Sequential) -> list:
    return [params(model[0]), params(model[1]), params(model[2])]


def batches() -> DataLoaders:
    generator = torch.Generator().manual_seed(1)
    items = [(torch.randn(3, 8, 8, generator=generator), int(i % 3)) for i in range(20)]
    # 5 training steps per epoch, no shuffling: both learners see the same batches
    return DataLoaders(DataLoader(items, bs=4), DataLoader(items[:4], bs=4))


class Steps(Callback):
    def __init__(self):
        self.count = 0

    def after_step(self):
        self.count += 1


def train(opt_func) -> tuple[nn.Module, int]:
    model = tiny_model()
    steps = Steps()
    learn = Learner(
        batches(),
        copy.deepcopy(model),
        loss_func=nn.CrossEntropyLoss(),
        opt_func=opt_func,
        splitter=split,
        wd=0.1,  # large, so that decaying BatchNorm/biases or not would show
        moms=(0.95, 0.85, 0.95),
        cbs=steps,
    )
    learn.freeze()
    learn.fit_one_cycle(1, 1e-2)
    learn.unfreeze()
    learn.fit_one_cycle(1, slice(1e-4, 1e-2))
    return learn.model, steps.count


def test_fused_adamw_matches_fastai_adam():
    ours, steps = train(partial(FusedAdamW, mom=0.9, sqr_mom=0.99))
    theirs, _ = train(partial(Adam, mom=0.9, sqr_mom=0.99))
    assert steps == 10
    start = tiny_model().state_dict()
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6, rtol=0), name
    # the comparison is not vacuous: every parameter moved, the frozen body in phase 2 too
    moved = [n for n, p in ours.named_parameters() if not torch.equal(p, start[n])]
    assert len(moved) == len(list(ours.parameters()))


def test_biases_and_batchnorm_are_not_decayed():
    learn = Learner(batches(), tiny_model(), loss_func=nn.CrossEntropyLoss(), opt_func=FusedAdamW)
    learn.create_opt()
    groups = learn.opt.opt.param_groups
    decayed = {id(p) for g in groups[0::2] for p in g["params"]}
    norm_or_bias = [m.bias for m in learn.model.modules() if getattr(m, "bias", None) is not None]
    norm_or_bias += [m.weight for m in learn.model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norm_or_bias and not decayed & {id(p) for p in norm_or_bias}
    assert len(decayed) == 3  # the two conv kernels and the linear weight
