from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .jobs import TrainingJob


class Prediction(models.Model):
    """What one finished job predicted for one image of its test (or validation) split."""

    TEST, VALID = "test", "valid"
    SPLITS = [(TEST, _("test")), (VALID, _("valid"))]

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="predictions")
    split = models.CharField(max_length=10, choices=SPLITS)
    path = models.CharField(max_length=500, help_text="Relative to the dataset root.")
    label = models.CharField(max_length=200)
    predicted = models.CharField(max_length=200)
    probabilities = models.JSONField(help_text="Class name -> probability.")

    class Meta:
        ordering = ["job", "split", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "split", "path"], name="unique_prediction_per_image"
            )
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.split} {self.path}"

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


class Study(models.Model):
    """A grid of jobs on one dataset: libraries x architectures x settings x seeds."""

    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(
        "experiments.Dataset", null=True, on_delete=models.SET_NULL, related_name="studies"
    )
    dataset_name = models.CharField(max_length=100)
    grid = models.JSONField(help_text="The request that built the study (clone reuses it).")
    jobs = models.ManyToManyField(TrainingJob, through="StudyJob", related_name="studies")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"Study #{self.pk} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("experiments:study_detail", args=[self.pk])


class StudyJob(models.Model):
    """One job of a study and the grid cell it belongs to (all settings but the seed)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="members")
    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="study_members")
    cell = models.CharField(max_length=300, help_text="Readable key of the grid cell.")
    cell_settings = models.JSONField(default=dict)

    class Meta:
        ordering = ["study", "cell", "job"]
        constraints = [models.UniqueConstraint(fields=["study", "job"], name="unique_study_job")]

    def __str__(self) -> str:
        return f"{self.study_id}: {self.cell} #{self.job_id}"


class DatasetImport(models.Model):
    """A dataset import running in the background: its progress and outcome for the page."""

    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [
        (QUEUED, _("queued")),
        (RUNNING, _("running")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
    ]

    name = models.SlugField(max_length=100)
    path = models.CharField(max_length=500)
    preset = models.CharField(max_length=30)
    min_images = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    upload_report = models.JSONField(
        default=dict, blank=True, help_text="Zip uploads: members skipped or refused, and why."
    )
    dataset = models.ForeignKey(
        "experiments.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("experiments:dataset_import_status", args=[self.pk])

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


class ImagePrediction(models.Model):
    """A finished run's model tried on one image: probabilities and a Grad-CAM heatmap.

    Computed in a child process of a worker on the `predict` queue; the page polls it."""

    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [
        (QUEUED, _("queued")),
        (RUNNING, _("running")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
    ]

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="image_predictions")
    image = models.CharField(max_length=500, help_text="The PNG we stored, under MEDIA_ROOT.")
    source = models.CharField(max_length=500, help_text="Upload name or dataset path.")
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    predicted = models.CharField(max_length=200, blank=True)
    probabilities = models.JSONField(default=dict, blank=True)
    heatmap = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"prediction {self.pk} of job {self.job_id} ({self.status})"
