"""fastai backend: vision_learner, freeze/fit_one_cycle, unfreeze/discriminative rates.

Thesis §4.1.2-§4.1.4 and §4.2.2 (Table 4.1). Imported only in a job's child process.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch

from . import fastai_parts as parts
from .base import TrainingBackend, WeightsUnavailable, cores_per_job, seed_everything
from .reporting import Cancelled, Reporter
from .spec import JobSpec, SplitData, TrainedModel
from .storage import atomic_save

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


class FastaiBackend(TrainingBackend):
    library = "fastai"

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

    def train(
        self, spec: JobSpec, data: SplitData, reporter: Reporter, workdir: Path
    ) -> TrainedModel:
        from fastai.torch_core import set_seed

        self.check_weights(spec)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cores_per_job())
        seed_everything(spec.seed)
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

        learn.freeze()  # the LR finder explores phase 1's (frozen) model
        if spec.run_lr_finder and not parts.find_lr(learn, spec, reporter):
            raise Cancelled()
        for phase, epochs in ((1, spec.epochs1), (2, spec.epochs2)):
            if epochs <= 0:
                continue
            if reporter.should_stop():
                raise Cancelled()
            reporter.phase_started(phase, epochs, len(dls.train))
            callback = parts.ReportCallback(reporter, phase, epochs)
            parts.fit_phase(learn, spec, phase, [callback])
            if callback.cancelled:
                raise Cancelled()

        model_path = workdir / MODEL_FILE
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, parts.Bf16Autocast)])
        learn.model._compiled_call_impl = None  # export pickles the plain module
        atomic_save(model_path, learn.export)  # no partial file on a failed save
        if (workdir / "models").is_dir() and not any((workdir / "models").iterdir()):
            (workdir / "models").rmdir()  # left empty by the LR finder's temporary save
        test_probabilities = parts.predict(learn, [path for path, _ in data.test])
        return TrainedModel(test_probabilities=test_probabilities, model_path=model_path)

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
