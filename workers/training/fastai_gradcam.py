"""Grad-CAM for an exported fastai learner: the class score's gradient over the body's output.

Imported only in an inference child process (torch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def explain(model_path: Path, image_path: Path, image_size: int) -> tuple[list[float], np.ndarray]:
    """Class probabilities (vocab order, as the stored predictions) and a Grad-CAM map."""
    from fastai.learner import load_learner

    with warnings.catch_warnings():  # "load_learner uses pickle": it is our own file
        warnings.simplefilter("ignore", UserWarning)
        learn = load_learner(Path(model_path), cpu=not torch.cuda.is_available())
    # The same validation transforms as the test predictions (Resize is in the learner).
    dl = learn.dls.test_dl(pd.DataFrame({"path": [str(image_path)]}), num_workers=0)
    (x,) = dl.one_batch()[:1]
    model = learn.model.eval()
    body = model[0]  # vision_learner: Sequential(body, head)
    captured = {}
    hook = body.register_forward_hook(lambda module, args, output: captured.update(a=output))
    try:
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            logits = model(x)
            probabilities = torch.softmax(logits.float(), dim=1)[0]
            best = int(probabilities.argmax())
            activations = captured["a"]
            (gradients,) = torch.autograd.grad(logits[0, best], activations)
    finally:
        hook.remove()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1))[0]
    return probabilities.detach().cpu().tolist(), cam.detach().cpu().numpy()
