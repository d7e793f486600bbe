from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual


class Library(models.Model):
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    name = models.CharField(max_length=80, verbose_name=_("name"))

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("libraries")
        verbose_name = _("library")

    def __str__(self) -> str:
        return self.name


class Mooc(Bilingual):
    """One MOOC of the catalogue (thesis Table 3.1)."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    name_es = models.CharField(max_length=200, blank=True, verbose_name=_("Spanish name"))
    platform = models.CharField(max_length=80, db_index=True, verbose_name=_("platform"))
    provider_en = models.CharField(_("teaches / endorses (en)"), max_length=300, blank=True)
    provider_es = models.CharField(_("teaches / endorses (es)"), max_length=300, blank=True)
    instructors = models.JSONField(default=list, blank=True, verbose_name=_("instructors"))
    requirements_en = models.JSONField(
        default=list, blank=True, verbose_name=_("requirements (English)")
    )
    requirements_es = models.JSONField(
        default=list, blank=True, verbose_name=_("requirements (Spanish)")
    )
    duration_en = models.CharField(max_length=120, blank=True, verbose_name=_("duration (English)"))
    duration_es = models.CharField(max_length=120, blank=True, verbose_name=_("duration (Spanish)"))
    duration_weeks = models.FloatField(
        help_text=_("For sorting and facets."), verbose_name=_("duration (weeks)")
    )
    hours_per_week_min = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("minimum hours per week")
    )
    hours_per_week_max = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("maximum hours per week")
    )
    libraries = models.ManyToManyField(
        Library, related_name="moocs", blank=True, verbose_name=_("libraries")
    )
    main_libraries = models.ManyToManyField(
        Library,
        related_name="main_in",
        blank=True,
        help_text=_("When the thesis names some libraries as the main ones; empty: all are main."),
        verbose_name=_("main libraries"),
    )
    is_free = models.BooleanField(
        null=True, blank=True, help_text=_("Empty: not stated."), verbose_name=_("free")
    )
    monthly_price_eur = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, verbose_name=_("monthly price (EUR)")
    )
    certificate_paid = models.BooleanField(
        default=False,
        help_text=_("Free course whose certificate costs money."),
        verbose_name=_("paid certificate"),
    )
    price_note_en = models.CharField(
        max_length=300, blank=True, verbose_name=_("price note (English)")
    )
    price_note_es = models.CharField(
        max_length=300, blank=True, verbose_name=_("price note (Spanish)")
    )
    certificate = models.BooleanField(
        null=True, blank=True, help_text=_("Empty: not stated."), verbose_name=_("certificate")
    )
    content_areas_en = models.JSONField(
        default=list, blank=True, verbose_name=_("content areas (English)")
    )
    content_areas_es = models.JSONField(
        default=list, blank=True, verbose_name=_("content areas (Spanish)")
    )
    url = models.URLField(verbose_name=_("URL"))
    summary_en = models.TextField(blank=True, verbose_name=_("summary (English)"))
    summary_es = models.TextField(blank=True, verbose_name=_("summary (Spanish)"))
    # The admins' dated statement about the course today; the thesis facts above stay as published.
    CURRENT, SUPERSEDED, ARCHIVED = "current", "superseded", "archived"
    STATUSES = [(CURRENT, _("current")), (SUPERSEDED, _("superseded")), (ARCHIVED, _("archived"))]
    status = models.CharField(
        max_length=10, choices=STATUSES, default=CURRENT, verbose_name=_("status")
    )
    successor_name = models.CharField(max_length=200, blank=True, verbose_name=_("successor name"))
    successor_url = models.URLField(blank=True, verbose_name=_("successor URL"))
    status_checked = models.DateField(_("last checked"), null=True, blank=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("MOOC")
        verbose_name_plural = _("MOOCs")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("guide:course_detail", args=[self.slug])

    def display_name(self) -> str:
        from .bilingual import current_language

        return self.name_es if current_language() == "es" and self.name_es else self.name

    def main_library_slugs(self) -> set[str]:
        main = {lib.slug for lib in self.main_libraries.all()}
        return main or {lib.slug for lib in self.libraries.all()}

    @property
    def price_kind(self) -> str:
        if self.is_free is None:
            return "unknown"
        if self.is_free and self.certificate_paid:
            return "free-paid-certificate"
        return "free" if self.is_free else "paid"

    def price_label(self) -> str:
        if self.is_free is None:
            return str(_("Price not stated"))
        if self.is_free and self.certificate_paid:
            return str(_("Free (certificate paid)"))
        if self.is_free:
            return str(_("Free"))
        if self.monthly_price_eur is not None:
            amount = f"{self.monthly_price_eur:.2f}".rstrip("0").rstrip(".")
            return str(_("%(amount)s €/month")) % {"amount": amount}
        return str(_("Paid"))

    def hours_label(self) -> str:
        low, high = self.hours_per_week_min, self.hours_per_week_max
        if low and high and low != high:
            return str(_("%(low)s–%(high)s h/week")) % {"low": low, "high": high}
        if high or low:
            return str(_("%(hours)s h/week")) % {"hours": high or low}
        return ""
