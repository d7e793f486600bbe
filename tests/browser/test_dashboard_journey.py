"""A researcher uses the experiments dashboard in Chromium, with a real worker training."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from experiments.datasets.demo import write_digits
from experiments.models import TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def fill_small_job(page, library):
    page.goto("/experiments/runs/new/")
    page.select_option("#id_library", library)  # fills the library's thesis preset
    expect(page.locator("#id_epochs1")).to_have_value("50" if library == "keras" else "15")
    page.select_option("#id_architecture", "small-cnn")
    page.select_option("#id_dataset", "digits")
    page.select_option("#id_pretrained", "random")
    for name, value in {
        "image_size": "32",
        "batch_size": "8",
        "epochs1": "1",
        "epochs2": "1",
        "max_batches": "2",
    }.items():
        page.fill(f"#id_{name}", value)
    page.click('button[name="launch"]')
    expect(page.locator("h1")).to_contain_text(f"{library} small-cnn")
    return int(page.url.rstrip("/").split("/")[-1])


def test_researcher_imports_launches_watches_and_compares(
    browser, live_server, researcher, start_worker, settings, tmp_path
):
    root = tmp_path / "data"
    write_digits(root / "digits", per_class=16, size=32, classes=3)
    settings.DATA_ROOTS = [root]
    start_worker(queues="gpu,default")  # default: the dataset import

    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "password")
    page.click('form.stacked button[type="submit"]')

    # Import the demo images through the form; the report shows the cleaning and the chart.
    page.goto("/experiments/datasets/import/")
    page.fill("#id_path", str(root / "digits"))
    page.fill("#id_name", "digits")
    page.click('form.stacked button[type="submit"]')
    expect(page.locator("h1")).to_contain_text("digits")
    expect(page.locator(".splits")).to_contain_text("train")
    expect(page.locator("#chart-classes .main-svg").first).to_be_attached()

    fastai_id = fill_small_job(page, "fastai")
    keras_id = fill_small_job(page, "keras")

    # Watch both finish on their pages without reloading them.
    for run_id in (fastai_id, keras_id):
        page.goto(f"/experiments/runs/{run_id}/")
        page.evaluate("window.__sameDocument = true")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=240_000)
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
        expect(page.locator("#test-accuracy")).to_be_visible()
        for chart in ("loss", "accuracy", "lr_finder", "confusion", "per_class"):
            expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_attached()
        expect(page.locator("#chart-loss .scatterlayer .trace")).to_have_count(2)

    # Compare the two runs and download the CSV.
    page.goto("/experiments/")
    page.check(f'input[name="runs"][value="{fastai_id}"]')
    page.check(f'input[name="runs"][value="{keras_id}"]')
    page.click('#compare-form button[type="submit"]')
    expect(page.locator("#chart-valid_loss .scatterlayer .trace")).to_have_count(2)
    with page.expect_download() as download:
        page.click("#csv-link")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert sorted(int(r["id"]) for r in rows) == sorted([fastai_id, keras_id])
    assert {r["status"] for r in rows} == {"succeeded"}
    context.close()
    assert TrainingJob.objects.filter(status="succeeded").count() == 2


def test_anonymous_visitor_cannot_launch(browser, live_server, content):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/experiments/runs/new/")
    expect(page).to_have_url(re.compile(r".*/accounts/login/\?next=.*"))
    expect(page.locator("h1")).to_have_text("Log in")
    page.goto("/experiments/")
    expect(page.locator("text=Training runs")).to_be_visible()
    context.close()
