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
