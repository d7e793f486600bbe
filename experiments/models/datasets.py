from django.conf import settings
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

    name = models.SlugField(unique=True, verbose_name=_("name"))
    root = models.CharField(max_length=500, verbose_name=_("root"))
    layout = models.CharField(max_length=10, choices=LAYOUTS, verbose_name=_("layout"))
    preset = models.CharField(max_length=30, blank=True, verbose_name=_("preset"))
    min_images_per_class = models.PositiveIntegerField(
        default=0, verbose_name=_("minimum images per class")
    )
    valid_fraction = models.FloatField(default=0.2, verbose_name=_("validation fraction"))
    test_fraction = models.FloatField(
        default=0.0, help_text=_("Folder layout only."), verbose_name=_("test fraction")
    )
    dedupe_within_class = models.BooleanField(
        default=True, verbose_name=_("remove duplicates within a class")
    )
    seed = models.PositiveIntegerField(default=42, verbose_name=_("seed"))
    classes = models.JSONField(
        default=list, help_text=_("Kept classes, in label order."), verbose_name=_("classes")
    )
    manifest_hash = models.CharField(max_length=64, blank=True, verbose_name=_("manifest hash"))
    report = models.JSONField(
        default=dict,
        help_text=_("Counts per cleaning step, skipped files."),
        verbose_name=_("report"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        permissions = [("import_dataset", "Can import datasets from the data roots")]
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")

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

    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="images", verbose_name=_("dataset")
    )
    path = models.CharField(
        max_length=500, help_text=_("Relative to the dataset root."), verbose_name=_("path")
    )
    label = models.CharField(max_length=200, verbose_name=_("label"))
    source_split = models.CharField(
        max_length=10,
        help_text=_("train or test, as found on disk"),
        verbose_name=_("source split"),
    )
    sha256 = models.CharField(max_length=64, db_index=True, verbose_name=_("SHA-256"))
    split = models.CharField(max_length=10, choices=SPLITS, verbose_name=_("split"))
    excluded_reason = models.CharField(
        max_length=30, choices=REASONS, blank=True, verbose_name=_("excluded reason")
    )

    class Meta:
        ordering = ["dataset", "path"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "path"], name="unique_dataset_path")
        ]
        indexes = [models.Index(fields=["dataset", "split"])]
        verbose_name = _("dataset image")
        verbose_name_plural = _("dataset images")

    def __str__(self) -> str:
        return self.path


class DatasetImport(models.Model):
    """A dataset import running in the background: its progress and outcome for the page."""

    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [
        (QUEUED, _("queued")),
        (RUNNING, _("running")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
    ]

    name = models.SlugField(max_length=100, verbose_name=_("name"))
    path = models.CharField(max_length=500, verbose_name=_("path"))
    preset = models.CharField(max_length=30, verbose_name=_("preset"))
    min_images = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("minimum images")
    )
    status = models.CharField(
        max_length=10, choices=STATUSES, default=QUEUED, verbose_name=_("status")
    )
    done = models.PositiveIntegerField(default=0, verbose_name=_("done"))
    total = models.PositiveIntegerField(default=0, verbose_name=_("total"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    upload_report = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Zip uploads: members skipped or refused, and why."),
        verbose_name=_("upload report"),
    )
    dataset = models.ForeignKey(
        "experiments.Dataset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("dataset"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("dataset import")
        verbose_name_plural = _("dataset imports")

    def __str__(self) -> str:
        return f"import {self.name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("experiments:dataset_import_status", args=[self.pk])

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0
