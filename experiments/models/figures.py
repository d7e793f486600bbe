from django.db import models
from django.utils.translation import gettext_lazy as _

from .jobs import TrainingJob


class RunFigures(models.Model):
    """A finished run's Plotly figures as JSON text, built once per language and served as is.

    ``stamp`` says which state of the run they were built from (status, finish time, metrics,
    figure code version); a different stamp means the run changed and they are built again.
    """

    job = models.ForeignKey(
        TrainingJob, on_delete=models.CASCADE, related_name="+", verbose_name=_("job")
    )
    language = models.CharField(max_length=12, verbose_name=_("language"))
    stamp = models.CharField(max_length=64, verbose_name=_("stamp"))
    figures = models.TextField(verbose_name=_("figures"))
    built_at = models.DateTimeField(auto_now=True, verbose_name=_("built at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "language"], name="unique_run_figures")
        ]
        verbose_name = _("run figures")
        verbose_name_plural = _("run figures")

    def __str__(self) -> str:
        return f"figures of #{self.job_id} ({self.language})"


class StudyFigures(models.Model):
    """A finished study's Plotly figures as JSON text, as RunFigures are for a run: built once per
    language, built again when ``stamp`` (its members, their results and epochs) changes."""

    study = models.ForeignKey(
        "experiments.Study", on_delete=models.CASCADE, related_name="+", verbose_name=_("study")
    )
    language = models.CharField(max_length=12, verbose_name=_("language"))
    stamp = models.CharField(max_length=64, verbose_name=_("stamp"))
    figures = models.TextField(verbose_name=_("figures"))
    built_at = models.DateTimeField(auto_now=True, verbose_name=_("built at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "language"], name="unique_study_figures")
        ]
        verbose_name = _("study figures")
        verbose_name_plural = _("study figures")

    def __str__(self) -> str:
        return f"figures of study #{self.study_id} ({self.language})"
