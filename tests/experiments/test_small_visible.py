"""Issue 19's small but visible things: legends clear of the axes, accuracy axes from 0, no
spread for a group of one run, thousands grouped in the visitor's language."""

import pytest
from django.utils import translation

from experiments.figures import runs as figures
from experiments.figures import studies as study_figures
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """Requests in Spanish leave Spanish active in this thread; later tests expect English."""
    yield
    translation.activate("en")


def test_legends_sit_under_the_axis_titles_and_accuracy_axes_start_at_0():
    fig = figures.accuracy_curve([{"phase": 1, "epoch": 1, "valid_accuracy": 0.02}], 1)
    legend = fig["layout"]["legend"]
    assert legend["yref"] == "container" and legend["yanchor"] == "bottom"
    assert fig["layout"]["yaxis"]["rangemode"] == "nonnegative"
    cells = [{"cell": "keras", "jobs": [{"id": 1, "seed": 1, "test_accuracy": 0.1}]}]
    assert study_figures.accuracy_by_cell(cells)["layout"]["yaxis"]["rangemode"] == "nonnegative"
    curves = study_figures.curves_by_cell(
        [{"cell": "keras", "jobs": [{"id": 1}, {"id": 2}]}],
        [(1, 1, 1, 0.0), (2, 1, 1, 0.4)],
        {1: 1, 2: 1},
        "valid accuracy",
    )
    band = curves["data"][0]["y"]
    assert min(band) == 0.0  # mean 0.2, std 0.28: the band stops at 0


def test_a_single_run_shows_no_spread(client, tiny_dataset):
    job = make_job(tiny_dataset)
    html = client.get(f"/experiments/compare/?runs={job.pk}").content.decode()
    assert "±" not in html.split('<table class="groups">')[1]


def test_counts_are_grouped_the_visitors_way(client, tiny_dataset):
    report = dict(tiny_dataset.report)
    report["steps"] = [{"step": "found", "images": 2357, "per_class": {}}]
    tiny_dataset.report = report
    tiny_dataset.save(update_fields=["report"])
    url = tiny_dataset.get_absolute_url()
    assert "2,357" in client.get(url).content.decode()
    assert "2.357" in client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()


def test_run_list_says_the_status_beside_the_number_on_phones(client, tiny_dataset):
    job = make_job(tiny_dataset, status="failed")
    html = client.get("/experiments/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    row = html.split(f'data-run="{job.pk}"')[1].split("</tr>")[0]
    assert 'class="status status-failed phone-only"' in row and "fallido" in row
