from django.db import models

from .bilingual import Bilingual
from .programmes import Unit


class Topic(Bilingual):
    """A row of thesis Table 3.2 and which programme teaches it."""

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    name_en = models.CharField(max_length=300)
    name_es = models.CharField(max_length=300)
    taught_by_ng = models.BooleanField(default=False)
    taught_by_fastai = models.BooleanField(default=False)
    units = models.ManyToManyField(Unit, related_name="topics", blank=True)

    class Meta:
        ordering = ["order"]

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
