"""What a backend needs to train: plain data, no Django objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class JobSpec:
    job_id: int
    library: str
    architecture: str
    image_size: int
    batch_size: int
    augmentation: bool
    weight_decay: float
    beta1: float
    beta2: float
    one_cycle: bool
    discriminative_lr: bool
    lr1: float
    lr2_low: float
    lr2_high: float
    epochs1: int
    epochs2: int
    pretrained: bool
    seed: int
    fair_mode: bool = False
    keras_backend: str = "auto"  # auto: see devices.resolve_keras_backend
    max_batches: int | None = None  # cap batches per epoch (tests, CPU trials)
    run_lr_finder: bool = True
    # Speed settings, the same for both libraries (Table 4.2b compares their times).
    precision: str = "auto"  # auto: bf16-mixed on a GPU, fp32 on the CPU
    channels_last: bool = True  # on a GPU only
    decode_cache: bool = True  # decode + resize every image once per job (uint8 in RAM)
    compile: bool = True  # torch.compile / XLA, on a GPU only
    deterministic: bool = False  # deterministic kernels (slower) only when asked

    @classmethod
    def from_job(cls, job) -> JobSpec:
        names = cls.__dataclass_fields__.keys() - {"job_id"}
        return cls(job_id=job.pk, **{name: getattr(job, name) for name in names})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SplitData:
    """Absolute image paths and integer labels per split; labels index `classes`."""

    classes: list[str]
    train: list[tuple[Path, int]] = field(default_factory=list)
    valid: list[tuple[Path, int]] = field(default_factory=list)
    test: list[tuple[Path, int]] = field(default_factory=list)
    root: Path | None = None  # the folder the paths are under (a worker's local view)

    @classmethod
    def from_dataset(cls, dataset, root: Path) -> SplitData:
        """The dataset's splits, its images found under `root` by their recorded paths."""
        root = Path(root)
        index = {label: i for i, label in enumerate(dataset.classes)}
        data = cls(classes=list(dataset.classes), root=root)
        rows = dataset.images.exclude(split="excluded").order_by("path")
        for path, label, split in rows.values_list("path", "label", "split"):
            getattr(data, split).append((root / path, index[label]))
        return data


@dataclass
class TrainedModel:
    """What a backend hands back: test-set predictions and where the model was saved."""

    test_probabilities: list[list[float]]
    model_path: Path
