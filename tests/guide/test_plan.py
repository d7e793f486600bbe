"""The study plan: arithmetic at the nominal pace and at other hours, re-flow, page and .ics."""

from datetime import date, timedelta

import pytest
from icalendar import Calendar

from guide.models import StudyPath, Unit
from guide.plan import NOMINAL_HOURS_PER_WEEK, build_plan, path_units

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 1, 5)


def test_path_units_follow_the_steps(content):
    mixed = StudyPath.objects.get(slug="fastai-ng-fastai")
    slugs = [u.slug for u in path_units(mixed)]
    assert slugs == [f"fastai-{n}" for n in range(1, 8)] + [f"ng-{n}" for n in range(1, 6)] + [
        f"fastai-{n}" for n in range(8, 15)
    ]


def test_nominal_pace_matches_the_catalogue(content):
    plan = build_plan(StudyPath.objects.get(slug="theory-first"), NOMINAL_HOURS_PER_WEEK, MONDAY)
    assert [u.days for u in plan.units] == [28, 21, 14, 28, 21]  # 4/3/2/4/3 weeks
    assert plan.units[0].start == MONDAY and plan.units[0].end == MONDAY + timedelta(days=27)
    assert plan.units[1].start == MONDAY + timedelta(weeks=4)
    assert plan.total_weeks == 16 and plan.end == MONDAY + timedelta(weeks=16, days=-1)

    fastai = build_plan(StudyPath.objects.get(slug="practice-first"), 6, MONDAY)
    assert [u.days for u in fastai.units] == [7] * 14  # about a lesson a week
    assert fastai.total_weeks == 14


def test_other_hours_scale_the_durations(content):
    path = StudyPath.objects.get(slug="theory-first")
    twice = build_plan(path, 2 * NOMINAL_HOURS_PER_WEEK, MONDAY)
    assert [u.days for u in twice.units] == [14, 11, 7, 14, 11]  # half, rounded up to a day
    assert twice.total_weeks == 9
    half = build_plan(path, NOMINAL_HOURS_PER_WEEK // 2, MONDAY)
    assert [u.days for u in half.units] == [56, 42, 28, 56, 42]
    assert half.total_weeks == 32
    # Units are back to back: each starts the day after the previous one ends.
    for before, after in zip(half.units, half.units[1:], strict=False):
        assert after.start == before.end + timedelta(days=1)
    with pytest.raises(ValueError):
        build_plan(path, 0, MONDAY)


def test_week_by_week_lists_every_unit_in_each_week_it_spans(content):
    plan = build_plan(StudyPath.objects.get(slug="theory-first"), 8, MONDAY)
    weeks = plan.weeks()
    assert weeks[0].units[0].unit.slug == "ng-1"
    spans = {u.unit.slug: [w.number for w in weeks if u in w.units] for u in plan.units}
    assert spans["ng-1"] == [1, 2, 3]  # 4 weeks × 6/8 h = 21 days
    assert spans["ng-2"][0] == 4


def test_reflow_from_today_when_behind_or_ahead(content):
    path = StudyPath.objects.get(slug="theory-first")
    ng1 = Unit.objects.get(slug="ng-1")
    behind_day = MONDAY + timedelta(weeks=10)  # only course 1 done after 10 weeks
    plan = build_plan(path, 6, MONDAY, done={ng1.pk}, today=behind_day)
    assert plan.reflowed_from == behind_day
    assert plan.units[0].done and plan.units[0].start == MONDAY  # done units keep their dates
    assert plan.units[1].start == behind_day
    assert plan.end == behind_day + timedelta(days=21 + 14 + 28 + 21 - 1)

    ahead_day = MONDAY + timedelta(weeks=2)  # course 1 finished early
    plan = build_plan(path, 6, MONDAY, done={ng1.pk}, today=ahead_day)
    assert plan.units[1].start == ahead_day < MONDAY + timedelta(weeks=4)

    untouched = build_plan(path, 6, MONDAY, done=set(), today=behind_day)
    assert untouched.reflowed_from is None and untouched.units[1].start == MONDAY + timedelta(
        weeks=4
    )


def test_plan_page_without_javascript_and_shareable(client, content):
    url = "/plan/?path=ng-then-fastai&hours=12&start=2026-01-05"
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="plan-unit') == 19
    assert "6 hours" in html and "calendar.ics?path=ng-then-fastai" in html
    assert "<script>" not in html
    es = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Plan de estudio" in es and "Semana 1" in es


@pytest.mark.parametrize(
    "query",
    [
        "path=nope&hours=6&start=2026-01-05",
        "path=theory-first&hours=0&start=2026-01-05",
        "path=theory-first&hours=abc&start=2026-01-05",
        "path=theory-first&hours=6&start=2026-02-31",
        "path=theory-first&hours=6&start=9999-01-01",
    ],
)
def test_bad_parameters_are_a_400_not_a_500(client, content, query):
    assert client.get(f"/plan/?{query}").status_code == 400
    response = client.get(f"/plan/calendar.ics?{query}")
    assert response.status_code == 400


def test_calendar_parses_with_one_event_per_unit_in_order(client, content):
    response = client.get("/plan/calendar.ics?path=fastai-ng-fastai&hours=6&start=2026-01-05")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "attachment" in response["Content-Disposition"]
    calendar = Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    expected = path_units(StudyPath.objects.get(slug="fastai-ng-fastai"))
    assert len(events) == len(expected) == 19
    assert [str(e["summary"]).split(": ", 1)[1] for e in events] == [u.title for u in expected]
    starts = [e.decoded("dtstart") for e in events]
    assert starts == sorted(starts) and starts[0] == date(2026, 1, 5)
    assert len({str(e["uid"]) for e in events}) == 19
    first = events[0]
    assert first.decoded("dtend") - first.decoded("dtstart") == timedelta(days=7)
    assert calendar["version"] == "2.0" and calendar["prodid"]


def test_spanish_calendar_names_lessons_in_spanish_with_the_original(client, content):
    client.cookies["django_language"] = "es"
    response = client.get("/plan/calendar.ics?path=fastai-ng-fastai&hours=6&start=2026-01-05")
    first = Calendar.from_ical(response.content).walk("VEVENT")[0]
    assert str(first["summary"]).endswith(": Clasificación de imágenes (Image classification)")
