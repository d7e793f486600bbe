"""A learner plans their study in a real browser: recommender → plan → tick a lesson → sign up →
progress kept → calendar download (Debian Chromium via Playwright)."""

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from guide.models import UnitProgress

pytestmark = pytest.mark.browser


def test_recommender_to_plan_to_account_to_calendar(page):
    # The recommender suggests a path; its plan link opens the study plan.
    page.goto("/recommend/")
    page.check('input[name="approach"][value="practice"]')
    page.check('input[name="budget"][value="low"]')  # free picks the fast.ai-only path
    page.check('input[name="certificate"][value="no"]')
    page.fill('input[name="hours"]', "8")
    page.select_option('select[name="library"]', "fastai")
    page.check('input[name="programming_year"][value="yes"]')
    page.click(".recommend-form button")
    expect(page.locator("#results .study-path .path-origin")).to_be_visible()
    page.locator("#results .study-path a.plan-link").click()
    expect(page.locator("h1")).to_have_text("Study plan")

    # Set the hours and a start date: a shareable URL with its parameters.
    page.fill('input[name="hours"]', "12")
    page.fill('input[name="start"]', "2026-01-05")
    page.click(".plan-form button")
    expect(page).to_have_url("/plan/?path=fastai-ng-fastai&hours=12&start=2026-01-05")
    rows = page.locator("tr.plan-unit")
    expect(rows).to_have_count(19)
    expect(page.locator(".plan-summary")).to_contain_text("12 h a week")

    # Tick the first lesson as done (a plain form post).
    rows.first.locator("button.tick-button").click()
    expect(page.locator("tr.plan-unit").first).to_have_class("plan-unit done")
    expect(page.locator(".progress-count")).to_contain_text("1 of 19 units done.")

    # Sign up: the session's tick is kept in the new account.
    page.locator("a", has_text="Sign up").click()
    page.fill('input[name="username"]', "ada")
    page.fill('input[name="email"]', "ada@example.org")
    page.fill('input[name="password1"]', "an-unguessable-phrase-7")
    page.fill('input[name="password2"]', "an-unguessable-phrase-7")
    page.click('form.stacked button[type="submit"]')
    expect(page.locator(".username")).to_have_text("ada")
    assert list(UnitProgress.objects.values_list("unit__slug", flat=True)) == ["fastai-1"]

    page.goto("/plan/?path=fastai-ng-fastai&hours=12&start=2026-01-05")
    expect(page.locator(".progress-count")).to_contain_text("1 of 19 units done.")
    expect(page.locator(".continue a")).to_contain_text("fast.ai lesson 2")
    page.goto("/programmes/fastai/")
    expect(page.locator(".progress-count")).to_contain_text("1 of 14 units done.")

    # Download the calendar: one event per unit.
    page.goto("/plan/?path=fastai-ng-fastai&hours=12&start=2026-01-05")
    with page.expect_download() as download_info:
        page.locator("a.ics").click()
    download = download_info.value
    assert download.suggested_filename == "study-plan-fastai-ng-fastai.ics"
    with open(download.path(), "rb") as handle:
        events = Calendar.from_ical(handle.read()).walk("VEVENT")
    assert len(events) == 19
    assert str(events[0]["summary"]).startswith("fast.ai lesson 1")
