from django.db import models
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual
from .programmes import Unit


class Topic(Bilingual):
    """A row of thesis Table 3.2 and which programme teaches it."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    name_en = models.CharField(max_length=300, verbose_name=_("name (English)"))
    name_es = models.CharField(max_length=300, verbose_name=_("Spanish name"))
    taught_by_ng = models.BooleanField(default=False, verbose_name=_("taught by Ng et al."))
    taught_by_fastai = models.BooleanField(default=False, verbose_name=_("taught by fast.ai"))
    units = models.ManyToManyField(Unit, related_name="topics", blank=True, verbose_name=_("units"))

    class Meta:
        ordering = ["order"]
        verbose_name = _("topic")
        verbose_name_plural = _("topics")

    def __str__(self) -> str:
        return self.name_en

    @property
    def coverage(self) -> str:
        if self.taught_by_ng and self.taught_by_fastai:
            return "both"
        return "ng" if self.taught_by_ng else "fastai"

    @property
    def is_exclusive(self) -> bool:
        return self.coverage != "both"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("guide:compare") + f"#{self.slug}"
