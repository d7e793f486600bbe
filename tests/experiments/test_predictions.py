"""Per-image predictions stored by real jobs, served by the API and CSV, and paired."""

import csv
import io
import math
from pathlib import Path

import pytest

from experiments.jobs.actions import launch
from experiments.models import Prediction, TrainingJob
from experiments.research.predictions import store_predictions
from tests.conftest import make_job, wait_for
from tests.workers.tiny import TINY_JOB

SMALL = TINY_JOB


def exact_mcnemar(b, c):
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)


@pytest.mark.slow
def test_finished_jobs_store_serve_and_pair_their_predictions(
    start_worker, tiny_dataset, client, researcher
):
    start_worker()
    start_worker(name="predict-test", queues="predict")
    jobs = [
        launch({"library": lib, "dataset": tiny_dataset, **SMALL}) for lib in ("fastai", "keras")
    ]
    for job in jobs:
        wait_for(lambda job=job: TrainingJob.objects.get(pk=job.pk).is_finished, 300)
        job.refresh_from_db()
        assert job.status == TrainingJob.SUCCEEDED, job.error

    test_paths = set(tiny_dataset.images.filter(split="test").values_list("path", flat=True))
    valid_count = tiny_dataset.images.filter(split="valid").count()
    correct = {}
    for job in jobs:
        response = client.get(f"/api/jobs/{job.pk}/predictions/?split=test")
        assert response.status_code == 200
        rows = response.json()
        assert {row["path"] for row in rows} == test_paths  # relative to the dataset root
        for row in rows:
            probs = row["probabilities"]
            assert set(probs) == {"0", "1", "2"}
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
            assert row["predicted"] == max(probs, key=probs.get)
            assert row["label"] == tiny_dataset.images.get(path=row["path"]).label
        accuracy = sum(r["label"] == r["predicted"] for r in rows) / len(rows)
        assert accuracy == pytest.approx(job.evaluation["accuracy"])
        assert job.predictions.filter(split="valid").count() == valid_count > 0
        correct[job.pk] = {r["path"]: r["label"] == r["predicted"] for r in rows}

        download = client.get(f"/experiments/runs/{job.pk}/predictions.csv?split=valid")
        assert download.status_code == 200
        lines = list(csv.DictReader(io.StringIO(download.content.decode())))
        assert len(lines) == valid_count and set(lines[0]) >= {"path", "p_0", "p_2"}

    a, b = jobs
    response = client.get(f"/api/compare/paired/?a={a.pk}&b={b.pk}")
    assert response.status_code == 200
    result = response.json()
    only_a = sum(correct[a.pk][p] and not correct[b.pk][p] for p in test_paths)
    only_b = sum(correct[b.pk][p] and not correct[a.pk][p] for p in test_paths)
    assert result["n"] == len(test_paths) == 12
    assert result["accuracy_a"] == pytest.approx(a.evaluation["accuracy"])
    assert result["accuracy_b"] == pytest.approx(b.evaluation["accuracy"])
    assert result["mcnemar"]["b"] == only_a and result["mcnemar"]["c"] == only_b
    assert result["mcnemar"]["p_value"] == pytest.approx(exact_mcnemar(only_a, only_b))
    low, high = result["ci95"]
    assert low <= result["difference"] <= high

    page = client.get(f"/experiments/compare/?ids={a.pk},{b.pk}").content.decode()
    assert "significant at 5 %" in page and "cannot be told from chance" in page

    # Try each model on a test image uploaded as a file: the worker's answer agrees with the
    # prediction stored at the end of training, and comes with a Grad-CAM overlay.
    client.force_login(researcher)
    path = sorted(test_paths)[0]
    for job in jobs:
        stored = job.predictions.get(split="test", path=path)
        with open(Path(tiny_dataset.root) / path, "rb") as handle:
            response = client.post(f"/api/jobs/{job.pk}/predict/", {"image": handle})
        assert response.status_code == 202, response.content
        result = answer(client, response.json()["url"])
        assert result["status"] == "succeeded", result["error"]
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert result["predicted"] == stored.predicted
        for name, value in stored.probabilities.items():
            assert result["probabilities"][name] == pytest.approx(value, abs=1e-3)
        heatmap = client.get(result["heatmap_url"])
        assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/png"
        # The same through a test image picked by path, answered by the now warm child
        picked = client.post(f"/api/jobs/{job.pk}/predict/", {"path": path})
        assert picked.status_code == 202
        again = answer(client, picked.json()["url"])
        assert again["probabilities"] == pytest.approx(result["probabilities"], abs=1e-6)

    # A model file that has gone fails that request only, with the reason; the next one works.
    gone = make_job(
        tiny_dataset,
        evaluation={"accuracy": 0.5, "classes": ["0", "1", "2"], "model_file": "jobs/0/x.pkl"},
    )
    response = client.post(f"/api/jobs/{gone.pk}/predict/", {"path": path})
    failed = answer(client, response.json()["url"])
    assert failed["status"] == "failed" and "model file of run" in failed["error"]
    response = client.post(f"/api/jobs/{jobs[0].pk}/predict/", {"path": path})
    assert answer(client, response.json()["url"])["status"] == "succeeded"


def answer(client, url: str) -> dict:
    """Poll a prediction until the worker has answered."""
    return wait_for(
        lambda: (r := client.get(url).json())["status"] in ("succeeded", "failed") and r,
        180,
        interval=0.2,
        message="the prediction",
    )


def _stored(job, labels_and_predictions):
    classes = ["a", "b"]
    root = "/data"
    paths = [f"/data/img{i}.png" for i in range(len(labels_and_predictions))]
    probs = [[0.9, 0.1] if p == 0 else [0.2, 0.8] for _, p in labels_and_predictions]
    labels = [label for label, _ in labels_and_predictions]
    store_predictions(job, "test", paths, labels, probs, classes, Path(root))


def test_paired_api_refuses_runs_it_cannot_pair(client, tiny_dataset, db):
    from experiments.datasets.importer import ImportOptions, import_dataset

    a = make_job(tiny_dataset)
    b = make_job(tiny_dataset, library="keras")
    _stored(a, [(0, 0), (1, 1), (1, 0)])
    _stored(b, [(0, 0), (1, 0), (1, 0)])
    ok = client.get(f"/api/compare/paired/?a={a.pk}&b={b.pk}").json()
    assert ok["mcnemar"] == {"b": 1, "c": 0, "p_value": 1.0}
    assert ok["accuracy_a"] == pytest.approx(2 / 3)

    other = import_dataset(
        tiny_dataset.root, "tiny-copy", ImportOptions(test_fraction=0.25, seed=0)
    ).dataset
    c = make_job(other)
    _stored(c, [(0, 0), (1, 1), (1, 0)])
    response = client.get(f"/api/compare/paired/?a={a.pk}&b={c.pk}")
    assert response.status_code == 400 and "same test images" in response.json()["detail"]
    d = make_job(tiny_dataset)
    _stored(d, [(0, 0), (1, 1)])
    response = client.get(f"/api/compare/paired/?a={a.pk}&b={d.pk}")
    assert response.status_code == 400 and "different test images" in response.json()["detail"]
    no_predictions = make_job(tiny_dataset)
    response = client.get(f"/api/compare/paired/?a={a.pk}&b={no_predictions.pk}")
    assert response.status_code == 400 and "no stored test predictions" in response.json()["detail"]
    running = make_job(tiny_dataset, status="running")
    assert client.get(f"/api/compare/paired/?a={a.pk}&b={running.pk}").status_code == 400
    assert client.get(f"/api/compare/paired/?a={a.pk}&b={a.pk}").status_code == 400
    assert client.get(f"/api/compare/paired/?a={a.pk}&b=999999").status_code == 404
    for query in ("", f"a={a.pk}", "a=x&b=1", "a=-1&b=2", "a=1e3&b=2", "a=99999999999&b=1"):
        assert client.get(f"/api/compare/paired/?{query}").status_code == 400, query

    page = client.get(f"/experiments/compare/?ids={a.pk},{c.pk}")
    assert page.status_code == 200 and "same test images" in page.content.decode()


def test_predictions_api_and_csv_validate_the_split(client, tiny_dataset):
    job = make_job(tiny_dataset)
    _stored(job, [(0, 0), (1, 0)])
    rows = client.get(f"/api/jobs/{job.pk}/predictions/").json()
    assert rows == [
        {"path": "img0.png", "label": "a", "predicted": "a", "probabilities": {"a": 0.9, "b": 0.1}},
        {"path": "img1.png", "label": "b", "predicted": "a", "probabilities": {"a": 0.9, "b": 0.1}},
    ]
    assert client.get(f"/api/jobs/{job.pk}/predictions/?split=valid").json() == []
    assert client.get(f"/api/jobs/{job.pk}/predictions/?split=train").status_code == 400
    assert client.get("/api/jobs/999999/predictions/").status_code == 404
    assert client.get(f"/experiments/runs/{job.pk}/predictions.csv?split=nope").status_code == 400
    text = client.get(f"/experiments/runs/{job.pk}/predictions.csv").content.decode()
    assert text.splitlines()[0] == "path,label,predicted,correct,p_a,p_b"
    assert text.splitlines()[2] == "img1.png,b,a,0,0.900000,0.100000"
    # A retry replaces the predictions instead of adding to them
    _stored(job, [(0, 0)])
    assert Prediction.objects.filter(job=job).count() == 1
