from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Dataset(models.Model):
    """An imported image folder, cleaned and split (thesis §4.2.1)."""

    KAGGLE, FOLDER = "kaggle", "folder"
    LAYOUTS = [
        (KAGGLE, _("Train/<class> + Test/<class>")),
        (FOLDER, _("<class>/ with a test fraction")),
    ]

    name = models.SlugField(unique=True)
    root = models.CharField(max_length=500)
    layout = models.CharField(max_length=10, choices=LAYOUTS)
    preset = models.CharField(max_length=30, blank=True)
    min_images_per_class = models.PositiveIntegerField(default=0)
    valid_fraction = models.FloatField(default=0.2)
    test_fraction = models.FloatField(default=0.0, help_text="Folder layout only.")
    dedupe_within_class = models.BooleanField(default=True)
    seed = models.PositiveIntegerField(default=42)
    classes = models.JSONField(default=list, help_text="Kept classes, in label order.")
    manifest_hash = models.CharField(max_length=64, blank=True)
    report = models.JSONField(default=dict, help_text="Counts per cleaning step, skipped files.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("import_dataset", "Can import datasets from the data roots")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("experiments:dataset_detail", args=[self.name])

    def split_counts(self) -> dict[str, int]:
        return self.report.get("splits", {})


class DatasetImage(models.Model):
    """One file of a dataset and what cleaning decided about it."""

    TRAIN, VALID, TEST, EXCLUDED = "train", "valid", "test", "excluded"
    SPLITS = [
        (TRAIN, _("train")),
        (VALID, _("valid")),
        (TEST, _("test")),
        (EXCLUDED, _("excluded")),
    ]
    CROSS_CLASS_DUPLICATE = "cross-class-duplicate"
    WITHIN_CLASS_DUPLICATE = "within-class-duplicate"
    RARE_CLASS = "rare-class"
    REASONS = [
        ("", _("kept")),
        (CROSS_CLASS_DUPLICATE, _("same bytes under more than one class")),
        (WITHIN_CLASS_DUPLICATE, _("extra copy within one class")),
        (RARE_CLASS, _("class below the minimum size")),
    ]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    path = models.CharField(max_length=500, help_text="Relative to the dataset root.")
    label = models.CharField(max_length=200)
    source_split = models.CharField(max_length=10, help_text="train or test, as found on disk")
    sha256 = models.CharField(max_length=64, db_index=True)
    split = models.CharField(max_length=10, choices=SPLITS)
    excluded_reason = models.CharField(max_length=30, choices=REASONS, blank=True)

    class Meta:
        ordering = ["dataset", "path"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "path"], name="unique_dataset_path")
        ]
        indexes = [models.Index(fields=["dataset", "split"])]

    def __str__(self) -> str:
        return self.path
