from django.db import models

from .bilingual import Bilingual
from .programmes import Programme


class ProgrammeComparison(Bilingual):
    """One aspect in which Ng et al. and fast.ai differ (§3.5)."""

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    title_en = models.CharField(max_length=200)
    title_es = models.CharField(max_length=200, blank=True)
    ng_en = models.TextField(blank=True)
    ng_es = models.TextField(blank=True)
    fastai_en = models.TextField(blank=True)
    fastai_es = models.TextField(blank=True)

    class Meta:
        ordering = ["order"]

    def __str__(self) -> str:
        return self.title_en


class StudyPath(Bilingual):
    """A recommended order for taking the programmes (§3.5)."""

    THEORY, PRACTICE = "theory", "practice"
    SUITS = [(THEORY, "theory first"), (PRACTICE, "practice first")]

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    suits = models.CharField(max_length=10, choices=SUITS)
    title_en = models.CharField(max_length=200)
    title_es = models.CharField(max_length=200, blank=True)
    description_en = models.TextField(blank=True)
    description_es = models.TextField(blank=True)
    from_thesis = models.BooleanField(
        default=False, help_text="One of the two ways §3.5 proposes; otherwise this guide's."
    )

    class Meta:
        ordering = ["order"]

    def __str__(self) -> str:
        return self.title_en


class StudyStep(Bilingual):
    path = models.ForeignKey(StudyPath, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(default=0)
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="+")
    part = models.PositiveSmallIntegerField(null=True, blank=True)
    note_en = models.TextField(blank=True)
    note_es = models.TextField(blank=True)

    class Meta:
        ordering = ["path", "order"]

    def __str__(self) -> str:
        return f"{self.path.slug} step {self.order}"


class PipelineStage(Bilingual):
    """Keras vs fastai at one stage of the training pipeline (§4.1)."""

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    stage_en = models.CharField(max_length=200)
    stage_es = models.CharField(max_length=200, blank=True)
    keras_en = models.TextField(blank=True)
    keras_es = models.TextField(blank=True)
    fastai_en = models.TextField(blank=True)
    fastai_es = models.TextField(blank=True)

    class Meta:
        ordering = ["order"]

    def __str__(self) -> str:
        return self.stage_en
