"""Plotly figures built from database rows: plain JSON data that pages and the API share."""

import json

import pytest

from experiments.figures import runs as figures
from experiments.jobs.presets import preset_for
from experiments.models import EpochMetric, TrainingJob

pytestmark = pytest.mark.django_db


def make_job(**fields) -> TrainingJob:
    values = {
        **preset_for("fastai"),
        "library": "fastai",
        "architecture": "resnet50",
        "dataset_name": "tiny",
        "epochs1": 2,
        "epochs2": 3,
    }
    values.pop("fair_mode")
    values.update(fields)
    return TrainingJob.objects.create(**values)


def add_metrics(job: TrainingJob) -> None:
    for phase, epochs in ((1, job.epochs1), (2, job.epochs2)):
        for epoch in range(1, epochs + 1):
            n = (phase - 1) * 10 + epoch
            EpochMetric.objects.create(
                job=job,
                phase=phase,
                epoch=epoch,
                train_loss=1.0 / n,
                valid_loss=2.0 / n,
                valid_accuracy=n / 100,
                learning_rate=1e-3,
                seconds=1.0,
                images_per_second=9.0,
            )


def assert_plain(fig: dict) -> None:
    assert set(fig) == {"data", "layout"}
    assert json.loads(json.dumps(fig, allow_nan=False)) == fig
    assert "template" not in fig["layout"]
    assert fig["layout"]["height"] == 360
    assert fig["layout"]["title"]["text"]


def boundary(fig: dict) -> list[float]:
    return [s["x0"] for s in fig["layout"].get("shapes", []) if s["type"] == "line"]


def test_loss_curves_put_phase_2_after_phase_1_with_the_boundary_marked():
    job = make_job()
    add_metrics(job)
    fig = figures.loss_curves(job.metrics.all(), job.epochs1)
    assert_plain(fig)
    train, valid = fig["data"]
    assert train["x"] == valid["x"] == [1, 2, 3, 4, 5]
    assert train["y"] == pytest.approx([1.0, 0.5, 1 / 11, 1 / 12, 1 / 13])
    assert valid["y"] == pytest.approx([2.0, 1.0, 2 / 11, 2 / 12, 2 / 13])
    shape = fig["layout"]["shapes"][0]
    assert (shape["x0"], shape["x1"], shape["line"]["dash"]) == (2.5, 2.5, "dash")
    assert fig["layout"]["annotations"][0]["text"] == "phase 2 (fine-tuning)"
    assert fig["layout"]["xaxis"]["title"]["text"] == "epoch"


def test_curves_accept_unordered_dicts_and_leave_gaps_for_missing_values():
    rows = [
        {"phase": 2, "epoch": 1, "valid_accuracy": 0.8, "train_loss": 0.1, "valid_loss": None},
        {
            "phase": 1,
            "epoch": 1,
            "valid_accuracy": 0.5,
            "train_loss": 0.3,
            "valid_loss": float("nan"),
        },
    ]
    fig = figures.accuracy_curve(rows, epochs1=4)
    assert_plain(fig)
    assert (fig["data"][0]["x"], fig["data"][0]["y"]) == ([1, 5], [0.5, 0.8])
    assert boundary(fig) == [4.5]
    loss = figures.loss_curves(rows, epochs1=4)
    assert loss["data"][1]["y"] == [None, None]


def test_lr_finder_marks_the_suggestion_on_a_log_axis():
    finder = {
        "phase": 1,
        "lrs": [1e-5, 1e-4, 1e-3, 1e-2],
        "losses": [2.0, 1.5, 1.0, 3.0],
        "suggestion": 1e-3,
    }
    fig = figures.lr_finder_curve(finder)
    assert_plain(fig)
    assert fig["layout"]["xaxis"]["type"] == "log"
    curve, line, marker = fig["data"]
    assert (curve["x"], curve["y"]) == (finder["lrs"], finder["losses"])
    assert line["x"] == [1e-3, 1e-3] and line["y"] == [1.0, 3.0]
    assert (marker["x"], marker["y"]) == ([1e-3], [1.0])


def test_lr_finder_without_data_says_so():
    for empty in ({}, None, {"lrs": [], "losses": []}):
        fig = figures.lr_finder_curve(empty)
        assert_plain(fig)
        assert fig["data"] == []
        assert fig["layout"]["annotations"][0]["text"] == "no learning-rate finder data"


EVALUATION = {
    "accuracy": 0.75,
    "test_loss": 0.6,
    "classes": ["mel", "nv", "0"],
    "per_class": [
        {"class": "mel", "precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 4},
        {"class": "nv", "precision": 0.9, "recall": 1.0, "f1": 0.947, "support": 9},
        {"class": "0", "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
    ],
    "confusion_matrix": [[1, 3, 0], [0, 9, 0], [1, 0, 1]],
    "most_confused": [{"actual": "mel", "predicted": "nv", "count": 3}],
    "top_losses": [],
    "n_test": 15,
}


def test_confusion_heatmap_is_the_matrix_with_actual_rows_and_predicted_columns():
    job = make_job(status=TrainingJob.SUCCEEDED, evaluation=EVALUATION)
    job.refresh_from_db()
    fig = figures.confusion_heatmap(job.evaluation)
    assert_plain(fig)
    (heat,) = fig["data"]
    assert heat["type"] == "heatmap"
    assert heat["z"] == EVALUATION["confusion_matrix"] == heat["text"]
    assert heat["x"] == heat["y"] == ["mel", "nv", "0"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "predicted"
    assert fig["layout"]["yaxis"]["title"]["text"] == "actual"
    assert fig["layout"]["xaxis"]["type"] == "category"
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"
    assert figures.confusion_heatmap({})["layout"]["annotations"][0]["text"] == (
        "no evaluation data"
    )


def test_per_class_bars_group_precision_recall_f1_in_class_order():
    fig = figures.per_class_bars(EVALUATION)
    assert_plain(fig)
    assert fig["layout"]["barmode"] == "group"
    assert [t["name"] for t in fig["data"]] == ["precision", "recall", "F1"]
    assert all(t["x"] == ["mel", "nv", "0"] for t in fig["data"])
    assert fig["data"][1]["y"] == [0.25, 1.0, 0.5]


def test_dataset_class_counts_compare_found_with_the_last_cleaning_step():
    report = {
        "steps": [
            {"step": "found", "images": 12, "per_class": {"akiec": 2, "bcc": 4, "mel": 6}},
            {
                "step": "cross-class duplicates removed",
                "images": 10,
                "per_class": {"akiec": 2, "bcc": 3, "mel": 5},
            },
            {
                "step": "within-class duplicates",
                "images": 9,
                "per_class": {"akiec": 2, "bcc": 3, "mel": 4},
            },
            {
                "step": "rare classes dropped",
                "classes": {"akiec": 2},
                "images": 7,
                "per_class": {"bcc": 3, "mel": 4},
            },
        ]
    }
    fig = figures.dataset_class_counts(report)
    assert_plain(fig)
    before, after = fig["data"]
    assert before["x"] == after["x"] == ["akiec", "bcc", "mel"]
    assert before["y"] == [2, 4, 6]
    assert after["y"] == [0, 3, 4]
    assert fig["layout"]["barmode"] == "group"


def test_overlay_runs_draws_one_line_per_run():
    a, b = make_job(), make_job(epochs1=1, epochs2=2, library="keras")
    add_metrics(a)
    add_metrics(b)
    runs = [("fastai #1", a.metrics.all(), a.epochs1), ("keras #2", b.metrics.all(), b.epochs1)]
    fig = figures.overlay_runs(runs, metric="valid_accuracy")
    assert_plain(fig)
    assert [t["name"] for t in fig["data"]] == ["fastai #1", "keras #2"]
    assert fig["data"][0]["x"] == [1, 2, 3, 4, 5]
    assert fig["data"][1]["x"] == [1, 2, 3]
    assert fig["data"][1]["y"] == pytest.approx([0.01, 0.11, 0.12])
    assert boundary(fig) == [1.5, 2.5]
    assert len(fig["layout"]["annotations"]) == 1
    with pytest.raises(ValueError):
        figures.overlay_runs(runs, metric="seconds")


def test_titles_are_translated_at_call_time():
    from django.utils import translation

    with translation.override("es"):
        es = figures.lr_finder_curve({})
    en = figures.lr_finder_curve({})
    assert en["layout"]["title"]["text"] == "Learning-rate finder"
    assert isinstance(es["layout"]["title"]["text"], str)
