from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual


class Library(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "libraries"

    def __str__(self) -> str:
        return self.name


class Mooc(Bilingual):
    """One MOOC of the catalogue (thesis Table 3.1)."""

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=200)
    name_es = models.CharField(max_length=200, blank=True)
    platform = models.CharField(max_length=80, db_index=True)
    provider_en = models.CharField("teaches / endorses (en)", max_length=300, blank=True)
    provider_es = models.CharField("teaches / endorses (es)", max_length=300, blank=True)
    instructors = models.JSONField(default=list, blank=True)
    requirements_en = models.JSONField(default=list, blank=True)
    requirements_es = models.JSONField(default=list, blank=True)
    duration_en = models.CharField(max_length=120, blank=True)
    duration_es = models.CharField(max_length=120, blank=True)
    duration_weeks = models.FloatField(help_text="For sorting and facets.")
    hours_per_week_min = models.PositiveSmallIntegerField(null=True, blank=True)
    hours_per_week_max = models.PositiveSmallIntegerField(null=True, blank=True)
    libraries = models.ManyToManyField(Library, related_name="moocs", blank=True)
    main_libraries = models.ManyToManyField(
        Library,
        related_name="main_in",
        blank=True,
        help_text="When the thesis names some libraries as the main ones; empty: all are main.",
    )
    is_free = models.BooleanField(null=True, blank=True, help_text="Empty: not stated.")
    monthly_price_eur = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    certificate_paid = models.BooleanField(
        default=False, help_text="Free course whose certificate costs money."
    )
    price_note_en = models.CharField(max_length=300, blank=True)
    price_note_es = models.CharField(max_length=300, blank=True)
    certificate = models.BooleanField(null=True, blank=True, help_text="Empty: not stated.")
    content_areas_en = models.JSONField(default=list, blank=True)
    content_areas_es = models.JSONField(default=list, blank=True)
    url = models.URLField()
    summary_en = models.TextField(blank=True)
    summary_es = models.TextField(blank=True)
    # The admins' dated statement about the course today; the thesis facts above stay as published.
    CURRENT, SUPERSEDED, ARCHIVED = "current", "superseded", "archived"
    STATUSES = [(CURRENT, "current"), (SUPERSEDED, "superseded"), (ARCHIVED, "archived")]
    status = models.CharField(max_length=10, choices=STATUSES, default=CURRENT)
    successor_name = models.CharField(max_length=200, blank=True)
    successor_url = models.URLField(blank=True)
    status_checked = models.DateField("last checked", null=True, blank=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "MOOC"

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
