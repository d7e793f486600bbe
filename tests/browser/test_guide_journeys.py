"""A learner and an admin use the guide in a real browser (Debian Chromium via Playwright)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_learner_journey(page):
    # Search from the home page.
    page.goto("/")
    page.fill("#hero-q", "image classification")
    page.click(".hero-search button")
    expect(page.locator('[data-kind="unit"]')).to_be_visible()
    expect(page.locator("mark").first).to_be_visible()

    # Open a lesson from the results.
    page.locator('[data-kind="unit"] a', has_text="Image classification").first.click()
    expect(page.locator("h1")).to_contain_text("Image classification")
    expect(page.locator("h2", has_text="Study advice")).to_be_visible()

    # Follow a cross-reference to the Ng et al. course that complements it.
    page.locator("a.xref", has_text="Convolutional Neural Networks").click()
    expect(page).to_have_url("/programmes/ng/ng-4/")
    expect(page.locator("h1")).to_contain_text("Convolutional Neural Networks")

    # Switch to Spanish: interface and content change, the page stays the same.
    page.click('[data-lang="es"]')
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_url("/programmes/ng/ng-4/")
    expect(page.locator("h2", has_text="Consejos de estudio")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("Redes neuronales convolucionales")
    original = page.locator('h1 .original-title[lang="en"]')
    expect(original).to_have_text("(Convolutional Neural Networks)")

    # Look a term up in the glossary, without its accent.
    page.goto("/glossary/")
    page.fill("#glossary-q", "eliminacion de enlaces")
    page.click(".inline-search button")
    expect(page.locator("dl.glossary dt")).to_have_count(1)
    expect(page.locator("dl.glossary dt")).to_contain_text("eliminación de enlaces")
    expect(page.locator("dl.glossary dt")).to_contain_text("dropout")
    page.goto("/glossary/#convolutional-neural-network")
    expect(page.locator("#convolutional-neural-network")).to_contain_text(
        "red neuronal convolucional"
    )

    # Get a recommendation (a plain form: works without JavaScript too).
    page.goto("/recommend/")
    page.check('input[name="approach"][value="practice"]')
    page.check('input[name="budget"][value="free"]')
    page.check('input[name="certificate"][value="no"]')
    page.fill('input[name="hours"]', "8")
    page.select_option('select[name="library"]', "fastai")
    page.check('input[name="programming_year"][value="yes"]')
    page.click(".recommend-form button")
    expect(page.locator("li.rec").first).to_have_attribute("data-slug", "fastai-course-v3")
    expect(page.locator("#results .study-path")).to_be_visible()


def test_recommendation_form_works_without_javascript(browser, live_server, content):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/recommend/")
    page.click(".recommend-form button")  # nothing answered
    expect(page.locator("p.error").first).to_be_visible()
    expect(page.locator("li.rec")).to_have_count(0)
    context.close()


def test_admin_edits_a_course_and_sees_it_public(page, admin_user):
    page.goto("/admin/login/?next=/admin/guide/mooc/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click('input[type="submit"]')
    page.click("text=Intro to Deep Learning with PyTorch")
    page.fill("#id_summary_en", "Hands-on PyTorch course with a zebrafinch example.")
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.goto("/courses/intro-to-deep-learning-with-pytorch/")
    expect(page.locator(".lead")).to_have_text("Hands-on PyTorch course with a zebrafinch example.")
    # The search index follows the edit.
    page.goto("/search/?q=zebrafinch")
    expect(page.locator('[data-kind="course"] a')).to_contain_text(
        "Intro to Deep Learning with PyTorch"
    )
