from django import template

from experiments.models import TrainingJob

register = template.Library()


@register.filter
def hms(seconds) -> str:
    """1429 -> '00:23:49', the way the thesis prints times; '—' when unknown."""
    if seconds is None or seconds == "":
        return "—"
    total = round(float(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


@register.filter
def status_label(status: str) -> str:
    """A job state as the interface shows it, in the active language ('succeeded' -> ...)."""
    return str(dict(TrainingJob.STATUSES).get(status, status))


@register.filter
def status_counts(counts: dict) -> list[tuple[str, int]]:
    """Every job state with its count (0 included), so a live page can update each one."""
    return [(status, counts.get(status, 0)) for status, _label in TrainingJob.STATUSES]


@register.filter
def import_reason(text: str) -> str:
    """A stored import reason or error in the active language (see experiments.reasons)."""
    from experiments.reasons import translate_reason

    return translate_reason(text)


@register.filter
def step_label(step: str) -> str:
    """A cleaning step of an import report ('found', ...) in the active language."""
    from experiments.reasons import step_label as label

    return label(step)
