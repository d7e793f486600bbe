"""fastai's Adam update done by one fused torch.optim.AdamW (CUDA and CPU kernels).

fastai's own `Adam` steps every parameter in Python (about 2,100 kernel launches per step for
ResNet50); torch's fused AdamW does the same arithmetic in four operators (two per group
with parameters to train).
fastai's `OptimWrapper` cannot stand in as is: the Learner switches weight decay off for
BatchNorm and bias parameters through the optimizer's per-parameter state (`do_wd`), which a
torch optimizer ignores. This wrapper keeps fastai's interface (layer groups, hypers `lr`,
`mom`, `sqr_mom`, `eps`, `wd`, freezing) and gives each layer group two torch groups, one with
the group's weight decay and one without it.

Same update as `fastai.optimizer.Adam(decouple_wd=True)`: p *= 1 - lr*wd (decayed parameters
only), then Adam with β1 = mom (the one-cycle schedule moves it), β2 = sqr_mom, eps added to
the debiased root. tests/workers/test_fastai_optim.py checks the two agree to 1e-6.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from fastai.optimizer import _BaseOptimizer
from fastcore.foundation import L


class FusedAdamW(_BaseOptimizer):
    """A fastai optimizer (Learner `opt_func`) backed by torch.optim.AdamW."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        mom: float = 0.9,
        sqr_mom: float = 0.99,
        eps: float = 1e-5,
        wd: float = 0.01,
    ):
        params = L(params)
        grouped = isinstance(params[0], (L, list))
        self.param_lists = L(L(p) for p in params) if grouped else L([params])
        self.hypers = L({} for _ in self.param_lists)
        self.state = defaultdict(dict)  # fastai's flags per parameter: do_wd, force_train
        self.frozen_idx = 0
        self.set_hypers(lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)
        self._opt: torch.optim.AdamW | None = None

    @property
    def opt(self) -> torch.optim.AdamW:
        """The torch optimizer, built on first use: the Learner marks BatchNorm and bias
        parameters `do_wd=False` right after it creates this wrapper."""
        if self._opt is None:
            groups = []
            for params in self.param_lists:
                decayed = [p for p in params if self.state[p].get("do_wd", True)]
                groups.append({"params": decayed})
                groups.append(
                    {"params": [p for p in params if not self.state[p].get("do_wd", True)]}
                )
            # fused: one operator per group (CUDA and CPU kernels); foreach elsewhere
            fused = all(p.device.type in ("cuda", "cpu") for p in self.param_lists.concat())
            self._opt = torch.optim.AdamW(
                groups, lr=self.hypers[0]["lr"], fused=fused or None, foreach=not fused or None
            )
            self._sync_hypers()
        return self._opt

    def _sync_hypers(self) -> None:
        """fastai's hypers (changed by the schedulers every batch) into the torch groups."""
        groups = self._opt.param_groups
        for i, hyper in enumerate(self.hypers):
            for group, decay in ((groups[2 * i], True), (groups[2 * i + 1], False)):
                group["lr"] = hyper["lr"]
                group["betas"] = (hyper["mom"], hyper["sqr_mom"])
                group["eps"] = hyper["eps"]
                group["weight_decay"] = hyper["wd"] if decay else 0.0

    def step(self, closure=None) -> None:
        if closure is not None:
            raise NotImplementedError("fastai optimizers do not support closure")
        opt = self.opt
        self._sync_hypers()
        opt.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)  # no memset per parameter

    def clear_state(self) -> None:
        if self._opt is not None:
            self._opt.state = defaultdict(dict)

    def state_dict(self) -> dict:
        flags = [dict(self.state[p]) for p, *_ in self.all_params()]
        return {"torch": self.opt.state_dict(), "hypers": list(self.hypers), "state": flags}

    def load_state_dict(self, sd: dict) -> None:
        if "torch" not in sd:
            raise ValueError("not a FusedAdamW state (fastai's Adam keeps another layout)")
        assert len(sd["hypers"]) == len(self.param_lists)
        self.hypers = L(dict(h) for h in sd["hypers"])
        for (p, *_), flags in zip(self.all_params(), sd["state"], strict=True):
            self.state[p].update(flags)
        self.opt.load_state_dict(sd["torch"])
        self._sync_hypers()
