"""A researcher launches a study, watches it finish, reads the statistics and tries a model."""

import re

import pytest
from playwright.sync_api import expect

from experiments.datasets.demo import write_digits
from experiments.datasets.importer import ImportOptions, import_dataset
from experiments.models import Study, TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_study_statistics_and_a_prediction_in_the_browser(
    browser, live_server, researcher, start_worker, settings, tmp_path
):
    root = tmp_path / "data"
    write_digits(root / "digits", per_class=16, size=32, classes=3)
    settings.DATA_ROOTS = [root]
    dataset = import_dataset(
        root / "digits", "digits", ImportOptions(test_fraction=0.25, seed=0)
    ).dataset
    start_worker()
    start_worker(name="predict-test", queues="predict")

    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "password")
    page.click('form.stacked button[type="submit"]')

    # Launch a 2 libraries x 1 architecture study from the form.
    page.goto("/experiments/studies/new/")
    page.fill("#id_name", "digits check")
    page.select_option("#id_dataset", "digits")
    page.check('input[name="libraries"][value="keras"]')
    page.check('input[name="libraries"][value="fastai"]')
    page.check('input[name="architectures"][value="small-cnn"]')
    page.fill("#id_seeds", "0")
    page.fill("#id_epochs", "1+1")
    page.fill("#id_image_size", "32")
    page.fill("#id_batch_size", "8")
    page.select_option("#id_pretrained", "random")
    page.fill("#id_max_batches", "2")
    page.click('button[name="launch"]')
    expect(page.locator("h1")).to_contain_text("digits check")
    study = Study.objects.get(name="digits check")
    assert study.jobs.count() == 2

    # The page follows the grid and reloads itself once every job has finished.
    expect(page.locator("#study-finished")).to_have_text("2", timeout=300_000)
    expect(page.locator("#study-live")).to_have_attribute("data-done", "1", timeout=30_000)
    assert set(study.jobs.values_list("status", flat=True)) == {TrainingJob.SUCCEEDED}
    expect(page.locator(".study-cells tbody tr")).to_have_count(2)
    expect(page.locator(".study-cells .cell-test").first).to_contain_text("±")
    expect(page.locator("#chart-accuracy .main-svg").first).to_be_attached()
    expect(page.locator("#chart-curves .main-svg").first).to_be_attached()
    verdict = page.locator(".library-comparison .paired-verdict")
    expect(verdict).to_contain_text("significant at 5 %")
    expect(verdict).to_contain_text("cannot be told from chance")

    # Try the Keras run's model on a test image uploaded from disk.
    keras_job = study.jobs.get(library="keras")
    page.goto(f"/experiments/runs/{keras_job.pk}/")
    expect(page.locator("#try-path option")).not_to_have_count(1)  # test images loaded
    test_image = dataset.images.filter(split="test").order_by("path").first()
    page.set_input_files("#try-image", str(root / "digits" / test_image.path))
    page.click('#try-form button[type="submit"]')
    expect(page.locator("#try-predicted")).not_to_be_empty(timeout=120_000)
    expect(page.locator("#try-probabilities tbody tr")).to_have_count(3)
    expect(page.locator("#try-heatmap")).to_have_attribute("src", re.compile(r"/heatmap\.png$"))
    stored = keras_job.predictions.get(split="test", path=test_image.path)
    expect(page.locator("#try-predicted")).to_have_text(stored.predicted)
    context.close()
