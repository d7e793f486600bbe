"""fastai backend: vision_learner, freeze/fit_one_cycle, unfreeze/discriminative rates.

Thesis §4.1.2-§4.1.4 and §4.2.2 (Table 4.1). Imported only in a job's child process.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from fastai.learner import Learner

from . import fastai_parts as parts
from .base import LrFinding, TrainingBackend, WeightsUnavailable, cores_per_job
from .reporting import Reporter
from .spec import JobSpec, SplitData

MODEL_FILE = "model.pkl"


def _torchvision_weights(architecture: str):
    """The weights build_learner passes to vision_learner: torchvision's IMAGENET1K_V1 (the
    thesis's generation; DEFAULT would be V2 for ResNet50/101)."""
    if architecture not in parts.ARCHS:
        raise ValueError(f"unknown fastai architecture {architecture!r}")
    if architecture == "small-cnn":
        raise WeightsUnavailable(
            "small-cnn has no pretrained (ImageNet) weights: launch the job with random "
            "initialisation (pretrained off)."
        )
    return parts.imagenet_v1(architecture)


@dataclass(eq=False)
class FastaiRun:
    """One training run's state, from FastaiBackend.prepare to predict_test."""

    spec: JobSpec
    reporter: Reporter
    workdir: Path
    learn: Learner


class FastaiBackend(TrainingBackend[FastaiRun]):
    library = "fastai"
    model_file = MODEL_FILE

    def weights_path(self, architecture: str) -> Path:
        """Where torch.hub keeps the file that torchvision downloads for `architecture`."""
        url = _torchvision_weights(architecture).url
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name

    def fetch_weights(self, architecture: str) -> Path:
        """Download the ImageNet weights into torch.hub's cache (needs internet)."""
        _torchvision_weights(architecture).get_state_dict(progress=True, check_hash=True)
        return self.weights_path(architecture)

    def check_weights(self, spec: JobSpec) -> None:
        if spec.architecture not in parts.ARCHS:
            raise ValueError(f"unknown fastai architecture {spec.architecture!r}")
        if not spec.pretrained:
            return
        path = self.weights_path(spec.architecture)
        if not path.is_file():
            raise WeightsUnavailable(
                f"Pretrained weights for {spec.architecture} are missing: {path.name} "
                "(torchvision's ImageNet V1 weights) is not in "
                f"{path.parent} (torch hub cache; this machine cannot download it). Run "
                f"`python manage.py fetch_weights --library fastai --arch {spec.architecture}` "
                f"on a machine with internet and copy {path.name} into {path.parent}, or "
                "launch the job with random initialisation (pretrained off)."
            )

    # ------------------------------------------------------------ training (train()'s hooks)
    def prepare(
        self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path
    ) -> FastaiRun:
        from fastai.torch_core import set_seed

        torch.set_num_threads(cores_per_job())
        # torch (+CUDA) seeds; deterministic cuDNN only when the job asks (it costs speed)
        set_seed(spec.seed, reproducible=spec.deterministic)
        if not spec.deterministic:
            torch.backends.cudnn.benchmark = True

        dls = parts.build_dataloaders(spec, data, workdir)
        learn = parts.build_learner(spec, dls, workdir)
        reporter.log(
            f"fastai {spec.architecture} on {self.device_name()}: {len(dls.train_ds)} train / "
            f"{len(dls.valid_ds)} valid images, {len(dls.train)} batches of {dls.bs} per epoch"
            f", precision {spec.precision}, channels-last {'on' if spec.channels_last else 'off'}"
            f", compiled steps {'on' if spec.compile else 'off'}"
            f", decode-once cache {'on' if spec.decode_cache else 'off'}"
        )
        return FastaiRun(spec, reporter, workdir, learn)

    def set_phase(self, run: FastaiRun, phase: int) -> None:
        parts.set_phase(run.learn, phase)

    def batches_per_epoch(self, run: FastaiRun) -> int:
        return len(run.learn.dls.train)

    def find_lr(self, run: FastaiRun) -> LrFinding | None:
        found = parts.find_lr(run.learn, run.spec, run.reporter)
        return None if found is None else LrFinding(*found, method="valley")

    def fit(self, run: FastaiRun, phase: int, epochs: int) -> bool:
        callback = parts.ReportCallback(run.reporter, phase, epochs)
        parts.fit_epochs(run.learn, run.spec, phase, epochs, [callback])
        return callback.cancelled

    def save(self, run: FastaiRun, path: Path) -> None:
        """Exports the learner as it predicts: no bf16 autocast (test predictions and the
        file are float32), the plain module rather than its compiled call."""
        learn = run.learn
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, parts.Bf16Autocast)])
        learn.model._compiled_call_impl = None  # export pickles the plain module
        models = run.workdir / "models"
        if models.is_dir() and not any(models.iterdir()):
            models.rmdir()  # left empty by the LR finder's temporary save
        learn.export(path)

    def predict_test(self, run: FastaiRun, images: list[Path]) -> list[list[float]]:
        return parts.predict(run.learn, images)

    def load_and_predict(
        self, model_path: Path, images: list[Path], image_size: int
    ) -> list[list[float]]:
        # image_size is baked into the exported learner's Resize transform
        from fastai.learner import load_learner

        with warnings.catch_warnings():  # "load_learner uses pickle": it is our own file
            warnings.simplefilter("ignore", UserWarning)
            learn = load_learner(Path(model_path), cpu=not torch.cuda.is_available())
        return parts.predict(learn, images)

    @staticmethod
    def device_name() -> str:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
