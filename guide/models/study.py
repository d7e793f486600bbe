from django.db import models
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual
from .programmes import Programme


class ProgrammeComparison(Bilingual):
    """One aspect in which Ng et al. and fast.ai differ (§3.5)."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    title_en = models.CharField(max_length=200, verbose_name=_("title (English)"))
    title_es = models.CharField(max_length=200, blank=True, verbose_name=_("Spanish title"))
    ng_en = models.TextField(blank=True, verbose_name=_("Ng et al. (English)"))
    ng_es = models.TextField(blank=True, verbose_name=_("Ng et al. (Spanish)"))
    fastai_en = models.TextField(blank=True, verbose_name=_("fast.ai (English)"))
    fastai_es = models.TextField(blank=True, verbose_name=_("fast.ai (Spanish)"))

    class Meta:
        ordering = ["order"]
        verbose_name = _("programme comparison")
        verbose_name_plural = _("programme comparisons")

    def __str__(self) -> str:
        return self.title_en


class StudyPath(Bilingual):
    """A recommended order for taking the programmes (§3.5)."""

    THEORY, PRACTICE = "theory", "practice"
    SUITS = [(THEORY, _("theory first")), (PRACTICE, _("practice first"))]

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    suits = models.CharField(max_length=10, choices=SUITS, verbose_name=_("suits"))
    title_en = models.CharField(max_length=200, verbose_name=_("title (English)"))
    title_es = models.CharField(max_length=200, blank=True, verbose_name=_("Spanish title"))
    description_en = models.TextField(blank=True, verbose_name=_("description (English)"))
    description_es = models.TextField(blank=True, verbose_name=_("description (Spanish)"))
    from_thesis = models.BooleanField(
        default=False,
        help_text=_("One of the two ways §3.5 proposes; otherwise this guide's."),
        verbose_name=_("from the thesis"),
    )

    class Meta:
        ordering = ["order"]
        verbose_name = _("study path")
        verbose_name_plural = _("study paths")

    def __str__(self) -> str:
        return self.title_en


class StudyStep(Bilingual):
    path = models.ForeignKey(
        StudyPath, on_delete=models.CASCADE, related_name="steps", verbose_name=_("path")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="+", verbose_name=_("programme")
    )
    part = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("part"))
    note_en = models.TextField(blank=True, verbose_name=_("note (English)"))
    note_es = models.TextField(blank=True, verbose_name=_("note (Spanish)"))

    class Meta:
        ordering = ["path", "order"]
        verbose_name = _("study step")
        verbose_name_plural = _("study steps")

    def __str__(self) -> str:
        return f"{self.path.slug} step {self.order}"


class PipelineStage(Bilingual):
    """Keras vs fastai at one stage of the training pipeline (§4.1)."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    stage_en = models.CharField(max_length=200, verbose_name=_("stage (English)"))
    stage_es = models.CharField(max_length=200, blank=True, verbose_name=_("stage (Spanish)"))
    keras_en = models.TextField(blank=True, verbose_name=_("Keras (English)"))
    keras_es = models.TextField(blank=True, verbose_name=_("Keras (Spanish)"))
    fastai_en = models.TextField(blank=True, verbose_name=_("fast.ai (English)"))
    fastai_es = models.TextField(blank=True, verbose_name=_("fast.ai (Spanish)"))

    class Meta:
        ordering = ["order"]
        verbose_name = _("pipeline stage")
        verbose_name_plural = _("pipeline stages")

    def __str__(self) -> str:
        return self.stage_en
