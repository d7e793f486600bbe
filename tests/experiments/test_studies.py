"""Studies: grid validation, longest jobs first, a real 2 x 1 x 2 study through a worker."""

import csv
import io

import pytest

from experiments.models import Study, TrainingJob
from experiments.research.studies import estimated_cost, launch_study
from tests.conftest import wait_for

SMALL_BASE = {
    "image_size": 32,
    "batch_size": 8,
    "max_batches": 2,
    "pretrained": False,
    "run_lr_finder": False,
}


def grid(dataset="tiny", **changes):
    return {
        "dataset": dataset,
        "libraries": ["keras", "fastai"],
        "architectures": ["small-cnn"],
        "seeds": [0, 1],
        "epochs": [[1, 1]],
        "base": SMALL_BASE,
        **changes,
    }


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"libraries": ["caffe"]}, "libraries"),
        ({"libraries": []}, "libraries"),
        ({"architectures": ["alexnet"]}, "architectures"),
        ({"seeds": [-1]}, "seeds"),
        ({"seeds": "0,1"}, "seeds"),
        ({"epochs": [[1]]}, "epochs"),
        ({"epochs": [[0, 1]]}, "keras · Small CNN · 0+1 epochs: epochs1"),
        ({"lr1": [0]}, "keras · Small CNN · lr1=0 · 1+1 epochs: lr1"),
        ({"base": {"gpu": 3}}, "base"),
        ({"base": {"epoch_scale": 2}}, "base"),
        ({"dataset": "nope"}, "dataset"),
        ({"seeds": list(range(50)), "lr1": [1e-3, 2e-3, 3e-3]}, "grid"),
    ],
)
def test_bad_grids_are_refused_with_a_message_and_queue_nothing(
    client, researcher, tiny_dataset, changes, field
):
    client.force_login(researcher)
    response = client.post("/api/studies/", grid(**changes), content_type="application/json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors or any(field in key for key in errors), errors
    assert not Study.objects.exists() and not TrainingJob.objects.exists()


def test_launching_needs_the_researcher_permission(client, visitor, tiny_dataset):
    assert client.post("/api/studies/", grid(), content_type="application/json").status_code in (
        401,
        403,
    )
    client.force_login(visitor)
    response = client.post("/api/studies/", grid(), content_type="application/json")
    assert response.status_code == 403 and not Study.objects.exists()


def test_longest_jobs_are_queued_first(tiny_dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        study = launch_study(
            {
                "dataset": tiny_dataset,
                "libraries": ["fastai", "keras"],
                "architectures": ["small-cnn", "vgg16"],
                "seeds": [7],
                "image_size": [32, 64],
                "base": {"epoch_scale": 0.02, "pretrained": False, "batch_size": 8},
            }
        )
    jobs = list(study.jobs.order_by("pk"))
    assert len(jobs) == len(callbacks) == 8
    costs = [estimated_cost(j.__dict__, tiny_dataset) for j in jobs]
    assert costs == sorted(costs, reverse=True)
    assert (jobs[0].library, jobs[0].architecture, jobs[0].image_size) == ("keras", "vgg16", 64)
    assert {j.seed for j in jobs} == {7}
    cells = {m.cell for m in study.members.all()}
    assert "fastai · VGG16 · 64px" in cells and len(cells) == 8


def test_fair_mode_makes_keras_cells_only(tiny_dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        study = launch_study({**grid(), "dataset": tiny_dataset, "fair_mode": [False, True]})
    libraries = sorted(study.jobs.values_list("library", "fair_mode"))
    assert libraries == [("fastai", False)] * 2 + [("keras", False)] * 2 + [("keras", True)] * 2


def test_reproduce_table_4_2_is_a_study_with_seeds(
    client, researcher, tiny_dataset, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/experiments/reproduce/",
            {
                "dataset": "tiny",
                "epoch_scale": "0.02",
                "image_size": "64",
                "pretrained": "random",
                "seed": "3",
                "seeds": "2",
            },
        )
    study = Study.objects.get()
    assert response.status_code == 302 and response["Location"] == study.get_absolute_url()
    assert len(callbacks) == study.jobs.count() == 24
    assert sorted(set(study.jobs.values_list("seed", flat=True))) == [3, 4]
    first = study.jobs.order_by("pk").first()
    assert (first.library, first.architecture) == ("keras", "vgg19")  # the longest job
    too_big = client.post(
        "/experiments/reproduce/",
        {
            "dataset": "tiny",
            "epoch_scale": "0.02",
            "image_size": "64",
            "pretrained": "random",
            "seed": str(2**31 - 1),
            "seeds": "2",
        },
    )
    assert too_big.status_code == 200 and "Seeds must be whole numbers" in too_big.content.decode()
    assert Study.objects.count() == 1
    page = client.get(study.get_absolute_url())
    assert page.status_code == 200 and 'id="study-finished">0</span>/24' in page.content.decode()


def test_study_pages_refuse_bad_input(client, researcher, tiny_dataset):
    client.force_login(researcher)
    assert client.get("/experiments/studies/999/").status_code == 404
    assert client.get("/api/studies/abc/").status_code == 404
    response = client.post(
        "/experiments/studies/new/",
        {
            "dataset": "tiny",
            "libraries": ["keras"],
            "architectures": ["small-cnn"],
            "seeds": "1, x",
            "epochs": "1+",
            "fair_mode": "off",
            "image_size": "32",
            "batch_size": "8",
            "pretrained": "random",
        },
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "x is not a number" in text and "phase 1 + phase 2" in text
    assert not Study.objects.exists()


@pytest.mark.slow
def test_a_study_runs_through_a_worker_and_reports_over_seeds(
    start_worker, tiny_dataset, client, researcher
):
    start_worker()
    client.force_login(researcher)
    response = client.post("/api/studies/", grid(name="two seeds"), content_type="application/json")
    assert response.status_code == 201, response.content
    study = Study.objects.get(pk=response.json()["id"])
    assert study.jobs.count() == 4
    wait_for(lambda: client.get(f"/api/studies/{study.pk}/").json()["progress"]["done"], 600)

    summary = client.get(f"/api/studies/{study.pk}/").json()
    assert summary["progress"]["counts"] == {"succeeded": 4}
    assert [c["cell"] for c in summary["cells"]] == [
        "fastai · Small CNN · 1+1 epochs",
        "keras · Small CNN · 1+1 epochs",
    ]
    for cell in summary["cells"]:
        accuracies = [j["test_accuracy"] for j in cell["jobs"]]
        assert sorted(j["seed"] for j in cell["jobs"]) == [0, 1]
        stats = cell["test_accuracy"]
        assert stats["n"] == 2 and stats["mean"] == pytest.approx(sum(accuracies) / 2)
        assert stats["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2**0.5)
    (versus,) = summary["library_comparisons"]
    assert versus["seeds"] == [0, 1] and versus["statistics"]["n"] == 24  # 12 images x 2 seeds

    too_big = client.post(
        "/experiments/reproduce/",
        {
            "dataset": "tiny",
            "epoch_scale": "0.02",
            "image_size": "64",
            "pretrained": "random",
            "seed": str(2**31 - 1),
            "seeds": "2",
        },
    )
    assert too_big.status_code == 200 and "Seeds must be whole numbers" in too_big.content.decode()
    assert Study.objects.count() == 1
    page = client.get(study.get_absolute_url()).content.decode()
    assert "±" in page and "cannot be told from chance" in page
    assert 'id="chart-accuracy"' in page and "study-figures" in page

    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/experiments/studies/{study.pk}/export.csv").content.decode())
        )
    )
    assert len(rows) == 4 and {r["status"] for r in rows} == {"succeeded"}
    exported = client.get(f"/experiments/studies/{study.pk}/export.json").json()
    assert exported["cells"] == summary["cells"]

    # Clone it, then cancel the clone as a whole: queued jobs at once, a running one stops.
    clone = client.post(f"/api/studies/{study.pk}/clone/")
    assert clone.status_code == 201
    copy = Study.objects.get(pk=clone.json()["id"])
    assert copy.grid["seeds"] == [0, 1] and copy.jobs.count() == 4
    cancelled = client.post(f"/api/studies/{copy.pk}/cancel/").json()
    assert cancelled["cancelled"] == 4
    assert cancelled["progress"]["counts"].get("cancelled", 0) >= 3
    wait_for(
        lambda: set(copy.jobs.values_list("status", flat=True)) == {"cancelled"},
        120,
        message="the cloned study to be cancelled",
    )


def test_study_figures_show_every_seed_and_a_band_per_cell():
    from experiments.figures.studies import accuracy_by_cell, curves_by_cell

    cells = [
        {"cell": "keras", "jobs": [{"id": 1, "seed": 0, "test_accuracy": 0.5},
                                   {"id": 2, "seed": 1, "test_accuracy": 0.7}]},
        {"cell": "fastai", "jobs": [{"id": 3, "seed": 0, "test_accuracy": 0.9},
                                    {"id": 4, "seed": 1, "test_accuracy": None}]},
    ]  # fmt: skip
    box = accuracy_by_cell(cells)
    assert [t["type"] for t in box["data"]] == ["box", "box"]
    assert box["data"][0]["y"] == [0.5, 0.7] and box["data"][0]["boxpoints"] == "all"
    assert box["data"][1]["y"] == [0.9]
    metrics = [(1, 1, 1, 0.4), (1, 2, 1, 0.6), (2, 1, 1, 0.6), (2, 2, 1, 0.8), (3, 1, 1, 0.9)]
    curves = curves_by_cell(cells, metrics, {1: 1, 2: 1, 3: 1}, "valid accuracy")
    band, mean = curves["data"][0], curves["data"][1]
    assert mean["x"] == [1, 2] and mean["y"] == pytest.approx([0.5, 0.7])
    std = 0.2 / 2**0.5
    assert band["fill"] == "toself"
    assert band["y"] == pytest.approx([0.5 + std, 0.7 + std, 0.7 - std, 0.5 - std])
    assert curves["data"][3]["y"] == [0.9]  # one seed: no band width
    empty = accuracy_by_cell([{"cell": "x", "jobs": []}])
    assert empty["layout"]["annotations"][0]["text"] == "No finished run yet."
