from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual, current_language
from .catalogue import Mooc


class Programme(Bilingual):
    """One of the two programmes studied in depth: Ng et al. (Coursera) and fast.ai v3."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    name_en = models.CharField(max_length=200, verbose_name=_("name (English)"))
    name_es = models.CharField(max_length=200, blank=True, verbose_name=_("Spanish name"))
    mooc = models.OneToOneField(
        Mooc,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="programme",
        verbose_name=_("MOOC"),
    )
    authors = models.JSONField(default=list, blank=True, verbose_name=_("authors"))
    year = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("year"))
    summary_en = models.TextField(blank=True, verbose_name=_("summary (English)"))
    summary_es = models.TextField(blank=True, verbose_name=_("summary (Spanish)"))
    approach_en = models.TextField(blank=True, verbose_name=_("approach (English)"))
    approach_es = models.TextField(blank=True, verbose_name=_("approach (Spanish)"))

    class Meta:
        ordering = ["order", "slug"]
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")

    def __str__(self) -> str:
        return self.name_en

    def get_absolute_url(self) -> str:
        return reverse("guide:programme_detail", args=[self.slug])

    @property
    def unit_kind(self) -> str:
        """Ng et al.'s units are courses; fast.ai's are lessons."""
        return "lesson" if self.slug == "fastai" else "course"


class ProgrammePart(Bilingual):
    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="parts", verbose_name=_("programme")
    )
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    title_en = models.CharField(max_length=200, verbose_name=_("title (English)"))
    title_es = models.CharField(max_length=200, blank=True, verbose_name=_("Spanish title"))
    summary_en = models.TextField(blank=True, verbose_name=_("summary (English)"))
    summary_es = models.TextField(blank=True, verbose_name=_("summary (Spanish)"))

    class Meta:
        ordering = ["programme", "number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="unique_part_number")
        ]
        verbose_name = _("programme part")
        verbose_name_plural = _("programme parts")

    def __str__(self) -> str:
        return f"{self.programme.slug} part {self.number}"


class Unit(Bilingual):
    """A course of Ng et al.'s specialization or a lesson of fast.ai course v3."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="units", verbose_name=_("programme")
    )
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    part = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("part"))
    title = models.CharField(
        max_length=300, help_text=_("Original English title."), verbose_name=_("title")
    )
    title_es = models.CharField(
        max_length=300,
        blank=True,
        help_text=_("Spanish title; empty: the original is shown."),
        verbose_name=_("Spanish title"),
    )
    duration_weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("duration (weeks)")
    )
    summary_en = models.TextField(blank=True, verbose_name=_("summary (English)"))
    summary_es = models.TextField(blank=True, verbose_name=_("summary (Spanish)"))
    advice_en = models.TextField(blank=True, verbose_name=_("advice (English)"))
    advice_es = models.TextField(blank=True, verbose_name=_("advice (Spanish)"))

    class Meta:
        ordering = ["programme__order", "number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="unique_unit_number")
        ]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return f"{self.label()} — {self.localized_title()}"  # the admin's pickers, per language

    def label(self) -> str:
        from django.utils.translation import gettext as _

        if self.programme.slug == "fastai":
            return _("fast.ai lesson %(n)s") % {"n": self.number}
        return _("Ng et al. course %(n)s") % {"n": self.number}

    def get_absolute_url(self) -> str:
        return reverse("guide:unit_detail", args=[self.programme.slug, self.slug])

    def localized_title(self) -> str:
        """The title in the active language; the original English one where none is given."""
        return self.title_es if current_language() == "es" and self.title_es else self.title

    def title_with_original(self) -> str:
        """Plain text: the translated title with the original in brackets, or the original."""
        title = self.localized_title()
        return f"{title} ({self.title})" if title != self.title else title

    @property
    def shows_original(self) -> bool:
        """A translated title is on show, so the original belongs beside it."""
        return self.localized_title() != self.title


class Reading(models.Model):
    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="readings", verbose_name=_("unit")
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    title = models.CharField(max_length=400, verbose_name=_("title"))
    url = models.URLField(blank=True, max_length=500, verbose_name=_("URL"))

    class Meta:
        ordering = ["unit", "order"]
        verbose_name = _("reading")
        verbose_name_plural = _("readings")

    def __str__(self) -> str:
        return self.title


class CrossReference(Bilingual):
    """A link stated in a "Referencias al curso de Howard et al." paragraph.

    `relation` says what the fast.ai lesson does with the topic: it complements the course, it
    implements what the course explains, or it goes further (the thesis says Ng et al. do not
    teach it). `erratum` corrects a lesson number the thesis got wrong, citing the paragraph.
    """

    COMPLEMENTS, IMPLEMENTS, GOES_FURTHER = "complements", "implements", "goes_further"
    RELATIONS = [
        (COMPLEMENTS, _("complements")),
        (IMPLEMENTS, _("implements what the course explains")),
        (GOES_FURTHER, _("goes further: not taught by Ng et al.")),
    ]

    ng_unit = models.ForeignKey(
        Unit,
        on_delete=models.CASCADE,
        related_name="fastai_references",
        verbose_name=_("Ng et al. course"),
    )
    fastai_unit = models.ForeignKey(
        Unit,
        on_delete=models.CASCADE,
        related_name="ng_references",
        verbose_name=_("fast.ai lesson"),
    )
    topic_en = models.CharField(max_length=200, verbose_name=_("topic (English)"))
    topic_es = models.CharField(max_length=200, blank=True, verbose_name=_("topic (Spanish)"))
    relation = models.CharField(
        max_length=12, choices=RELATIONS, default=COMPLEMENTS, verbose_name=_("relation")
    )
    erratum_en = models.TextField(blank=True, verbose_name=_("erratum (English)"))
    erratum_es = models.TextField(blank=True, verbose_name=_("erratum (Spanish)"))

    class Meta:
        ordering = ["ng_unit__number", "fastai_unit__number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ng_unit", "fastai_unit", "topic_en"], name="unique_cross_reference"
            )
        ]
        verbose_name = _("cross reference")
        verbose_name_plural = _("cross references")

    def __str__(self) -> str:
        return f"{self.ng_unit.slug} ↔ {self.fastai_unit.slug}: {self.topic_en}"
