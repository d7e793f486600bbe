from django.conf import settings
from django.db import models

from .programmes import Unit


class UnitProgress(models.Model):
    """A unit (course or lesson) a signed-in learner has marked as done."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="unit_progress"
    )
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "unit"], name="unique_unit_progress")
        ]

    def __str__(self) -> str:
        return f"{self.user} done {self.unit.slug}"


class GlossaryCard(models.Model):
    """A signed-in learner's spaced-repetition state for one term in one direction."""

    ES_EN, EN_ES = "es-en", "en-es"
    DIRECTIONS = [(ES_EN, "Spanish → English"), (EN_ES, "English → Spanish")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="glossary_cards"
    )
    term = models.ForeignKey("guide.GlossaryTerm", on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=5, choices=DIRECTIONS)
    box = models.PositiveSmallIntegerField(default=0)
    due = models.DateField()
    seen = models.PositiveIntegerField(default=0, help_text="Order of the last review.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "term", "direction"], name="unique_glossary_card"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.term.slug} {self.direction} box {self.box}"
