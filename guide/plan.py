"""A week-by-week study plan for a study path, scaled to the hours a learner really has.

The catalogue gives durations in weeks (Ng et al.'s courses 4/3/2/4/3 weeks; fast.ai about a
lesson a week) but not the hours those weeks assume, so the plan assumes NOMINAL_HOURS_PER_WEEK
and scales: a unit of w nominal weeks takes w × NOMINAL / hours weeks of the learner's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from .models import StudyPath, Unit

# This guide's assumption, not the thesis's: the thesis gives 4–12 h/week for other MOOCs.
NOMINAL_HOURS_PER_WEEK = 6
FASTAI_LESSON_WEEKS = 1
MIN_HOURS, MAX_HOURS = 1, 60


@dataclass
class PlannedUnit:
    unit: Unit
    nominal_weeks: float
    days: int
    start: date
    end: date  # the last day, inclusive
    done: bool = False

    @property
    def hours(self) -> float:
        return self.nominal_weeks * NOMINAL_HOURS_PER_WEEK


@dataclass
class PlanWeek:
    number: int
    start: date
    units: list[PlannedUnit] = field(default_factory=list)


@dataclass
class Plan:
    path: StudyPath
    hours_per_week: int
    start: date
    units: list[PlannedUnit]
    reflowed_from: date | None = None

    @property
    def end(self) -> date:
        return max(u.end for u in self.units) if self.units else self.start

    @property
    def total_weeks(self) -> int:
        return math.ceil(((self.end - self.start).days + 1) / 7)

    def weeks(self) -> list[PlanWeek]:
        """The plan as calendar weeks from the start; a unit appears in every week it spans."""
        weeks = []
        for number in range(self.total_weeks):
            first = self.start + timedelta(weeks=number)
            last = first + timedelta(days=6)
            active = [u for u in self.units if u.start <= last and u.end >= first]
            weeks.append(PlanWeek(number + 1, first, active))
        return weeks


def path_units(path: StudyPath) -> list[Unit]:
    """The units of a path in study order (a step with a part takes only that part's lessons)."""
    units: list[Unit] = []
    all_units = list(Unit.objects.select_related("programme").order_by("number"))
    for step in path.steps.select_related("programme"):
        units += [
            u
            for u in all_units
            if u.programme_id == step.programme_id and (step.part is None or u.part == step.part)
        ]
    return units


def nominal_weeks(unit: Unit) -> float:
    return float(unit.duration_weeks or FASTAI_LESSON_WEEKS)


def unit_days(unit: Unit, hours_per_week: int) -> int:
    """Calendar days for a unit at the learner's pace (at least one day)."""
    weeks = nominal_weeks(unit) * NOMINAL_HOURS_PER_WEEK / hours_per_week
    return max(1, math.ceil(round(weeks * 7, 6)))


def build_plan(
    path: StudyPath,
    hours_per_week: int,
    start: date,
    done: set[int] | frozenset[int] = frozenset(),
    today: date | None = None,
) -> Plan:
    """Schedule the path's units back to back from `start`.

    With `today` given and some units done, the remaining units re-flow from today (the learner
    is behind or ahead of the plan, or finished a unit on the plan's first day); done units keep
    their original dates.
    """
    if not MIN_HOURS <= hours_per_week <= MAX_HOURS:
        raise ValueError(f"hours_per_week must be between {MIN_HOURS} and {MAX_HOURS}")
    planned: list[PlannedUnit] = []
    cursor = start
    for unit in path_units(path):
        days = unit_days(unit, hours_per_week)
        planned.append(
            PlannedUnit(
                unit,
                nominal_weeks(unit),
                days,
                cursor,
                cursor + timedelta(days=days - 1),
                unit.pk in done,
            )
        )
        cursor += timedelta(days=days)
    plan = Plan(path, hours_per_week, start, planned)
    if today is not None and today >= start and any(u.done for u in planned):
        cursor = today
        for item in planned:
            if not item.done:
                item.start, item.end = cursor, cursor + timedelta(days=item.days - 1)
                cursor += timedelta(days=item.days)
        plan.reflowed_from = today
    return plan


def next_unit(plan: Plan) -> PlannedUnit | None:
    """Where the learner left off: the first unit not done."""
    return next((u for u in plan.units if not u.done), None)
