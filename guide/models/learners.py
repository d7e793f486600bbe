from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .programmes import Unit


class UnitProgress(models.Model):
    """A unit (course or lesson) a signed-in learner has marked as done."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="unit_progress",
        verbose_name=_("user"),
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="+", verbose_name=_("unit")
    )
    done_at = models.DateTimeField(auto_now_add=True, verbose_name=_("done at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "unit"], name="unique_unit_progress")
        ]
        verbose_name = _("unit progress")
        verbose_name_plural = _("unit progress")

    def __str__(self) -> str:
        return f"{self.user} done {self.unit.slug}"


class GlossaryCard(models.Model):
    """A signed-in learner's spaced-repetition state for one term in one direction."""

    ES_EN, EN_ES = "es-en", "en-es"
    DIRECTIONS = [(ES_EN, _("Spanish → English")), (EN_ES, _("English → Spanish"))]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="glossary_cards",
        verbose_name=_("user"),
    )
    term = models.ForeignKey(
        "guide.GlossaryTerm", on_delete=models.CASCADE, related_name="+", verbose_name=_("term")
    )
    direction = models.CharField(max_length=5, choices=DIRECTIONS, verbose_name=_("direction"))
    box = models.PositiveSmallIntegerField(default=0, verbose_name=_("box"))
    due = models.DateField(verbose_name=_("due"))
    seen = models.PositiveIntegerField(
        default=0, help_text=_("Order of the last review."), verbose_name=_("seen")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "term", "direction"], name="unique_glossary_card"
            )
        ]
        verbose_name = _("glossary card")
        verbose_name_plural = _("glossary cards")

    def __str__(self) -> str:
        return f"{self.user} {self.term.slug} {self.direction} box {self.box}"
