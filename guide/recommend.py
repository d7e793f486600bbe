"""Rank the catalogue for a learner's answers (§3.5's advice, applied to Table 3.1's facts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from .models import Mooc, StudyPath, StudyStep

# a path's steps with their programme and its MOOC in one query (the price decides the path)
STEPS_WITH_MOOCS = Prefetch("steps", queryset=StudyStep.objects.select_related("programme__mooc"))

LIBRARY_MATCHES = {"keras": {"keras", "tensorflow"}, "pytorch": {"pytorch"}, "fastai": {"fastai"}}
LOW_BUDGET_EUR = 50


@dataclass
class Recommendation:
    mooc: Mooc
    score: int = 0
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def plus(self, points: int, reason: str) -> None:
        self.score += points
        self.reasons.append(reason)

    def minus(self, points: int, warning: str) -> None:
        self.score -= points
        self.warnings.append(warning)


def recommend_courses(answers: dict) -> tuple[list[Recommendation], StudyPath | None]:
    moocs = Mooc.objects.prefetch_related("libraries", "main_libraries").select_related("programme")
    ranked = [_score(m, answers) for m in moocs]
    ranked.sort(key=lambda r: (-r.score, r.mooc.order))
    paths = list(
        StudyPath.objects.filter(suits=answers["approach"]).prefetch_related(STEPS_WITH_MOOCS)
    )
    if answers["budget"] == "free":
        # A learner who asked for free courses gets a free path when one suits them.
        paths = [p for p in paths if not paid_moocs(p)] or paths
    path = paths[0] if paths else None
    if path is not None:
        path.budget_warning = _budget_warning(path, answers)
    return ranked, path


def paid_moocs(path: StudyPath) -> list[Mooc]:
    """The paid MOOCs behind a path's programmes, in step order."""
    moocs = [step.programme.mooc for step in path.steps.all() if step.programme.mooc]
    return list({m.pk: m for m in moocs if m.is_free is False}.values())


def _budget_warning(path: StudyPath, answers: dict) -> str:
    """Said next to the path, so a paid course is never given without a word."""
    paid = paid_moocs(path)
    if answers["budget"] != "free" or not paid:
        return ""
    warning = _(
        "You asked for free courses, but no study path of this kind is free: this one includes "
        "%(courses)s, which is paid."
    ) % {"courses": ", ".join(f"{m.display_name()} ({m.price_label()})" for m in paid)}
    others = StudyPath.objects.prefetch_related(STEPS_WITH_MOOCS)
    free = next((p for p in others if not paid_moocs(p)), None)
    if free is not None:
        warning += " " + _("“%(path)s” is free.") % {"path": free.tr("title")}
    return warning


def _programme_slug(mooc: Mooc) -> str | None:
    programme = getattr(mooc, "programme", None)
    return programme.slug if programme else None


def _score(mooc: Mooc, answers: dict) -> Recommendation:
    rec = Recommendation(mooc)
    programme = _programme_slug(mooc)

    if answers["approach"] == "theory" and programme == "ng":
        rec.plus(3, _("Teaches the theory first and then practises it in assessed exercises."))
    if answers["approach"] == "practice" and programme == "fastai":
        rec.plus(3, _("Learning by doing: you train real models from the first lesson."))

    price = mooc.monthly_price_eur
    if mooc.is_free:
        rec.plus(2, _("Free to study."))
    elif mooc.is_free is None:
        rec.minus(1, _("The thesis does not state its price."))
    elif answers["budget"] == "free":
        rec.minus(
            5,
            _("Paid (%(price)s), and you asked for free courses.") % {"price": mooc.price_label()},
        )
    elif answers["budget"] == "low" and price is not None and price > LOW_BUDGET_EUR:
        rec.minus(4, _("Costs %(price)s, above your budget.") % {"price": mooc.price_label()})

    if answers["certificate"] == "yes":
        if mooc.certificate and mooc.certificate_paid:
            rec.plus(1, _("Offers a certificate, for a fee."))
        elif mooc.certificate:
            rec.plus(2, _("Offers a certificate."))
        elif mooc.certificate is None:
            rec.minus(1, _("The thesis does not say whether it gives a certificate."))
        else:
            rec.minus(3, _("Gives no certificate."))

    needed = mooc.hours_per_week_max
    if needed:
        if needed > answers["hours"]:
            rec.minus(2, _("Expects about %(hours)s hours a week.") % {"hours": needed})
        else:
            rec.plus(
                1,
                _("Its weekly effort (%(hours)s) fits your time.") % {"hours": mooc.hours_label()},
            )

    wanted = LIBRARY_MATCHES.get(answers["library"], set())
    used = {lib.slug for lib in mooc.libraries.all()}
    main = mooc.main_library_slugs()
    if wanted & main:
        names = ", ".join(lib.name for lib in mooc.libraries.all() if lib.slug in wanted & main)
        rec.plus(2, _("Uses %(libraries)s, your preferred library.") % {"libraries": names})
    elif wanted & used:
        # Table 3.1: some courses use a library only in addition to their main ones.
        names = ", ".join(lib.name for lib in mooc.libraries.all() if lib.slug in wanted)
        rec.plus(
            1,
            _("Also uses %(libraries)s, your preferred library, though not as its main one.")
            % {"libraries": names},
        )

    if answers["programming_year"] == "no" and programme == "fastai":
        rec.minus(3, _("Expects about a year of programming experience."))
    return rec
