from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .jobs import TrainingJob


class Prediction(models.Model):
    """What one finished job predicted for one image of its test (or validation) split."""

    TEST, VALID = "test", "valid"
    SPLITS = [(TEST, _("test")), (VALID, _("valid"))]

    job = models.ForeignKey(
        TrainingJob, on_delete=models.CASCADE, related_name="predictions", verbose_name=_("job")
    )
    split = models.CharField(max_length=10, choices=SPLITS, verbose_name=_("split"))
    path = models.CharField(
        max_length=500, help_text=_("Relative to the dataset root."), verbose_name=_("path")
    )
    label = models.CharField(max_length=200, verbose_name=_("label"))
    predicted = models.CharField(max_length=200, verbose_name=_("predicted"))
    probabilities = models.JSONField(
        help_text=_("Class name -> probability."), verbose_name=_("probabilities")
    )

    class Meta:
        ordering = ["job", "split", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "split", "path"], name="unique_prediction_per_image"
            )
        ]
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")

    def __str__(self) -> str:
        return f"job {self.job_id} {self.split} {self.path}"

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


class Study(models.Model):
    """A grid of jobs on one dataset: libraries x architectures x settings x seeds."""

    name = models.CharField(max_length=200, verbose_name=_("name"))
    dataset = models.ForeignKey(
        "experiments.Dataset",
        null=True,
        on_delete=models.SET_NULL,
        related_name="studies",
        verbose_name=_("dataset"),
    )
    dataset_name = models.CharField(max_length=100, verbose_name=_("dataset name"))
    grid = models.JSONField(
        help_text=_("The request that built the study (clone reuses it)."), verbose_name=_("grid")
    )
    jobs = models.ManyToManyField(
        TrainingJob, through="StudyJob", related_name="studies", verbose_name=_("jobs")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("studies")
        verbose_name = _("study")

    def __str__(self) -> str:
        return f"Study #{self.pk} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("experiments:study_detail", args=[self.pk])


class StudyJob(models.Model):
    """One job of a study and the grid cell it belongs to (all settings but the seed)."""

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="members", verbose_name=_("study")
    )
    job = models.ForeignKey(
        TrainingJob, on_delete=models.CASCADE, related_name="study_members", verbose_name=_("job")
    )
    cell = models.CharField(
        max_length=300, help_text=_("Readable key of the grid cell."), verbose_name=_("cell")
    )
    cell_settings = models.JSONField(default=dict, verbose_name=_("cell settings"))

    class Meta:
        ordering = ["study", "cell", "job"]
        constraints = [models.UniqueConstraint(fields=["study", "job"], name="unique_study_job")]
        verbose_name = _("study job")
        verbose_name_plural = _("study jobs")

    def __str__(self) -> str:
        return f"{self.study_id}: {self.cell} #{self.job_id}"


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

    job = models.ForeignKey(
        TrainingJob,
        on_delete=models.CASCADE,
        related_name="image_predictions",
        verbose_name=_("job"),
    )
    image = models.CharField(
        max_length=500, help_text=_("The PNG we stored, under MEDIA_ROOT."), verbose_name=_("image")
    )
    source = models.CharField(
        max_length=500, help_text=_("Upload name or dataset path."), verbose_name=_("source")
    )
    status = models.CharField(
        max_length=10, choices=STATUSES, default=QUEUED, verbose_name=_("status")
    )
    predicted = models.CharField(max_length=200, blank=True, verbose_name=_("predicted"))
    probabilities = models.JSONField(default=dict, blank=True, verbose_name=_("probabilities"))
    heatmap = models.CharField(max_length=500, blank=True, verbose_name=_("heatmap"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    seconds = models.FloatField(null=True, blank=True, verbose_name=_("seconds"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("image prediction")
        verbose_name_plural = _("image predictions")

    def __str__(self) -> str:
        return f"prediction {self.pk} of job {self.job_id} ({self.status})"
