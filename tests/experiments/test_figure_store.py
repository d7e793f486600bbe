"""A finished run's and a finished study's figures are built once and stored; the metrics API
answers plain rows."""

import json
import re

import pytest

from experiments.jobs import views
from experiments.jobs.api import EpochMetricSerializer
from experiments.models import EpochMetric, RunFigures, Study, StudyFigures, StudyJob, TrainingJob
from experiments.research import views as research_views
from tests.conftest import make_job


@pytest.fixture
def builds(monkeypatch):
    """Counts calls of the figure builder (views.run_figures), which still runs for real."""
    calls = []
    real = views.run_figures

    def counting(job, metrics):
        calls.append(job.pk)
        return real(job, metrics)

    monkeypatch.setattr(views, "run_figures", counting)
    return calls


def _page_figures(html: str) -> dict:
    found = re.search(
        r'<script id="run-figures" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(found.group(1))


def test_a_finished_runs_figures_are_built_once(client, db, builds):
    job = make_job()
    first = client.get(f"/api/jobs/{job.pk}/figures/")
    assert first.status_code == 200 and len(builds) == 1
    second = client.get(f"/api/jobs/{job.pk}/figures/")
    page = client.get(f"/experiments/runs/{job.pk}/")
    assert page.status_code == 200
    assert len(builds) == 1, "the second request and the page reuse the stored figures"
    assert second.json() == first.json() == _page_figures(page.content.decode())
    assert first.json() == views.run_figures(job, list(job.metrics.all()))  # same as a fresh build
    assert RunFigures.objects.filter(job=job).count() == 1


def test_a_browsers_second_look_is_a_304(client, db, builds):
    job = make_job()
    first = client.get(f"/api/jobs/{job.pk}/figures/")
    etag = first["ETag"]
    assert etag and first["Last-Modified"]
    again = client.get(f"/api/jobs/{job.pk}/figures/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert len(builds) == 1


def test_a_changed_run_gets_new_figures(client, db, builds):
    job = make_job()
    etag = client.get(f"/api/jobs/{job.pk}/figures/")["ETag"]
    EpochMetric.objects.create(
        job=job, phase=2, epoch=4, train_loss=0.1, valid_loss=0.2, valid_accuracy=0.9,
        learning_rate=1e-4, seconds=1.0, images_per_second=100.0,
    )  # fmt: skip
    changed = client.get(f"/api/jobs/{job.pk}/figures/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert len(builds) == 2
    assert len(changed.json()["loss"]["data"][0]["x"]) == job.total_epochs + 1


def test_live_runs_are_built_on_every_request(client, db, builds):
    job = make_job(status=TrainingJob.RUNNING)
    for _ in range(2):
        response = client.get(f"/api/jobs/{job.pk}/figures/")
        assert response.status_code == 200 and not response.has_header("ETag")
    client.get(f"/experiments/runs/{job.pk}/live/")
    assert len(builds) == 3
    assert not RunFigures.objects.exists()


def test_spanish_figures_are_stored_apart(client, db, builds):
    job = make_job()
    english = client.get(f"/api/jobs/{job.pk}/figures/", HTTP_ACCEPT_LANGUAGE="en").json()
    spanish = client.get(f"/api/jobs/{job.pk}/figures/", HTTP_ACCEPT_LANGUAGE="es").json()
    assert english["loss"]["layout"]["title"]["text"] != spanish["loss"]["layout"]["title"]["text"]
    assert len(builds) == 2


def test_metrics_api_answers_what_the_serializer_did(client, db):
    job = make_job()
    EpochMetric.objects.filter(job=job, epoch=2).update(valid_loss=None)
    expected = json.loads(json.dumps(EpochMetricSerializer(job.metrics.all(), many=True).data))
    response = client.get(f"/api/jobs/{job.pk}/metrics/")
    assert response.status_code == 200
    assert response.json() == expected
    assert [list(row) for row in response.json()] == [list(row) for row in expected]


def test_a_finished_runs_page_is_kept_for_visitors_without_a_session(
    client, db, researcher, django_assert_max_num_queries
):
    job = make_job()
    first = client.get(f"/experiments/runs/{job.pk}/")
    with django_assert_max_num_queries(2):  # the run and its stamp; no rendering
        again = client.get(f"/experiments/runs/{job.pk}/")
    assert again.content == first.content
    EpochMetric.objects.create(
        job=job, phase=2, epoch=4, train_loss=0.1, valid_loss=0.2, valid_accuracy=0.9,
        learning_rate=1e-4, seconds=1.0, images_per_second=100.0,
    )  # fmt: skip
    changed = client.get(f"/experiments/runs/{job.pk}/")
    assert len(_page_figures(changed.content.decode())["loss"]["data"][0]["x"]) == 6
    client.force_login(researcher)
    own = client.get(f"/experiments/runs/{job.pk}/").content.decode()
    assert researcher.get_username() in own and "Clone" in own


# ------------------------------------------------------------------ studies


@pytest.fixture
def study_builds(monkeypatch):
    """Counts calls of the study figure builder, which still runs for real."""
    calls = []
    real = research_views.build_study_figures

    def counting(study, cells):
        calls.append(study.pk)
        return real(study, cells)

    monkeypatch.setattr(research_views, "build_study_figures", counting)
    return calls


def _study(**job_fields) -> Study:
    study = Study.objects.create(name="seeds", dataset_name="gone", grid={})
    for seed in (1, 2):
        for library in ("fastai", "keras"):
            job = make_job(library=library, seed=seed, **job_fields)
            settings = {"library": library, "architecture": job.architecture}
            StudyJob.objects.create(study=study, job=job, cell=library, cell_settings=settings)
    return study


def _study_page_figures(html: str) -> dict:
    found = re.search(
        r'<script id="study-figures" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(found.group(1))


def test_a_finished_studys_figures_are_built_once(client, db, study_builds):
    study = _study()
    first = client.get(f"/api/studies/{study.pk}/figures/")
    assert first.status_code == 200 and len(study_builds) == 1
    etag = first["ETag"]
    assert etag and first["Last-Modified"]
    second = client.get(f"/api/studies/{study.pk}/figures/")
    page = client.get(f"/experiments/studies/{study.pk}/")
    again = client.get(f"/api/studies/{study.pk}/figures/", HTTP_IF_NONE_MATCH=etag)
    assert page.status_code == 200 and again.status_code == 304 and again["ETag"] == etag
    assert len(study_builds) == 1, "the second request, the page and the 304 reuse the stored"
    assert second.json() == first.json() == _study_page_figures(page.content.decode())
    assert StudyFigures.objects.filter(study=study).count() == 1

    # A job of the study changes (here its test accuracy): new figures, a new ETag.
    job = study.jobs.first()
    TrainingJob.objects.filter(pk=job.pk).update(evaluation={**job.evaluation, "accuracy": 0.9})
    changed = client.get(f"/api/studies/{study.pk}/figures/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert len(study_builds) == 2
    points = [y for trace in changed.json()["accuracy"]["data"] for y in trace["y"]]
    assert 0.9 in points


def test_a_live_studys_figures_are_built_on_every_request(client, db, study_builds):
    study = _study()
    TrainingJob.objects.filter(pk=study.jobs.first().pk).update(status=TrainingJob.RUNNING)
    for _ in range(2):
        response = client.get(f"/api/studies/{study.pk}/figures/")
        assert response.status_code == 200 and not response.has_header("ETag")
    assert client.get(f"/experiments/studies/{study.pk}/").status_code == 200
    assert len(study_builds) == 3
    assert not StudyFigures.objects.exists()
