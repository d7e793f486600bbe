"""Measured runs against thesis Table 4.2, group statistics over seeds, CSV exports."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.jobs.presets import preset_for
from experiments.models import EpochMetric, TrainingJob
from experiments.research.comparison import (
    GROUP_COLUMNS,
    RUN_COLUMNS,
    TABLE_4_2_COLUMNS,
    THESIS_TABLE_4_2,
    comparison_csv,
    group_stats,
    runs_csv,
    table_4_2,
    with_final_metrics,
)

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def make_job(
    library="fastai",
    architecture="resnet50",
    status=TrainingJob.SUCCEEDED,
    finished=0,
    final=(0.5, 0.8),
    phase_seconds=None,
    accuracy=None,
    seed=42,
    **fields,
) -> TrainingJob:
    """A job finished `finished` hours after NOW, with metrics ending on `final` in phase 2."""
    values = {
        **preset_for(library),
        "library": library,
        "architecture": architecture,
        "dataset_name": "isic",
        "epochs1": 2,
        "epochs2": 2,
        "status": status,
        "seed": seed,
        "finished_at": NOW + timedelta(hours=finished),
        "phase_seconds": phase_seconds if phase_seconds is not None else {"1": 10.0, "2": 20.0},
        "evaluation": {"accuracy": accuracy} if accuracy is not None else {},
    }
    values.pop("fair_mode")
    values.update(fields)
    job = TrainingJob.objects.create(**values)
    if final is not None:
        rows = [(1, 1, 2.0, 0.3), (1, 2, 1.5, 0.4), (2, 1, 1.0, 0.6), (2, 2, *final)]
        EpochMetric.objects.bulk_create(
            EpochMetric(
                job=job,
                phase=p,
                epoch=e,
                train_loss=loss,
                valid_loss=loss,
                valid_accuracy=acc,
                seconds=1.0,
                images_per_second=1.0,
            )
            for p, e, loss, acc in rows
        )
    return job


def row_for(rows, arch, library):
    (row,) = [r for r in rows if (r["architecture"], r["library"]) == (arch, library)]
    return row


def test_thesis_numbers_are_copied_exactly():
    assert set(THESIS_TABLE_4_2) == {
        "vgg16",
        "vgg19",
        "resnet50",
        "resnet101",
        "densenet121",
        "densenet169",
    }
    assert THESIS_TABLE_4_2["resnet50"]["keras"]["valid_loss"] == 9.474
    assert THESIS_TABLE_4_2["resnet50"]["fastai"]["valid_accuracy"] == 0.873
    assert THESIS_TABLE_4_2["vgg16"]["fastai"]["phase2_seconds"] == 1429  # 00:23:49
    assert THESIS_TABLE_4_2["vgg16"]["keras"]["phase2_seconds"] == 4057  # 01:07:37
    assert THESIS_TABLE_4_2["vgg19"]["keras"]["valid_accuracy"] == 0.577
    assert THESIS_TABLE_4_2["densenet169"]["fastai"]["valid_loss"] == 0.404
    assert THESIS_TABLE_4_2["densenet121"]["fastai"]["phase1_seconds"] == 355  # 00:05:55
    assert THESIS_TABLE_4_2["resnet101"]["keras"]["phase1_seconds"] == 2014  # 00:33:34
    for arch in THESIS_TABLE_4_2.values():
        assert (arch["keras"]["epochs1"], arch["keras"]["epochs2"]) == (50, 100)
        assert (arch["fastai"]["epochs1"], arch["fastai"]["epochs2"]) == (15, 40)


def test_latest_succeeded_job_wins_and_differences_are_measured_minus_thesis():
    make_job(finished=1, final=(0.9, 0.5))  # older success
    latest = make_job(finished=2, final=(0.4, 0.9), phase_seconds={"1": 300.5, "2": 1000})
    make_job(finished=3, status=TrainingJob.FAILED, final=(9.0, 0.1))  # newer failure
    make_job(status=TrainingJob.RUNNING, finished=4, final=(8.0, 0.2))
    rows = table_4_2(TrainingJob.objects.all())

    assert len(rows) == 12
    assert [(r["architecture"], r["library"]) for r in rows[:3]] == [
        ("vgg16", "keras"),
        ("vgg16", "fastai"),
        ("vgg19", "keras"),
    ]
    row = row_for(rows, "resnet50", "fastai")
    assert row["job_id"] == latest.pk
    assert (row["valid_loss"], row["valid_accuracy"]) == (0.4, 0.9)
    assert (row["phase1_seconds"], row["phase2_seconds"]) == (300.5, 1000.0)
    assert (row["thesis_valid_loss"], row["thesis_valid_accuracy"]) == (0.469, 0.873)
    assert (row["thesis_phase1_seconds"], row["thesis_phase2_seconds"]) == (319, 979)
    assert row["diff_valid_loss"] == pytest.approx(0.4 - 0.469)
    assert row["diff_valid_accuracy"] == pytest.approx(0.9 - 0.873)
    assert row["diff_phase1_seconds"] == pytest.approx(300.5 - 319)
    assert row["diff_phase2_seconds"] == pytest.approx(21.0)

    empty = row_for(rows, "resnet50", "keras")
    assert empty["job_id"] is None and empty["valid_loss"] is None
    assert empty["diff_valid_loss"] is None
    assert empty["thesis_valid_loss"] == 9.474


def test_table_accepts_lists_prefetched_jobs_and_annotated_jobs_alike():
    job = make_job(library="keras", architecture="vgg16", final=(6.5, 0.7))
    make_job(library="keras", architecture="vgg16", final=None, finished=-1)  # no metrics
    sources = [
        list(TrainingJob.objects.all()),
        list(TrainingJob.objects.prefetch_related("metrics")),
        list(with_final_metrics(TrainingJob.objects.all())),
    ]
    for jobs in sources:
        row = table_4_2(jobs)[0]
        assert (row["job_id"], row["valid_loss"], row["valid_accuracy"]) == (job.pk, 6.5, 0.7)
        assert row["diff_valid_loss"] == pytest.approx(6.5 - 5.980)


def test_a_job_without_phase_2_metrics_has_no_final_values():
    job = make_job(architecture="densenet121", final=None)
    EpochMetric.objects.create(
        job=job,
        phase=1,
        epoch=1,
        valid_loss=1.0,
        valid_accuracy=0.5,
        seconds=1.0,
        images_per_second=1.0,
    )
    row = row_for(table_4_2(TrainingJob.objects.all()), "densenet121", "fastai")
    assert row["job_id"] == job.pk
    assert row["valid_loss"] is None and row["diff_valid_loss"] is None
    assert row["phase2_seconds"] == 20.0


def test_table_4_2_takes_a_constant_number_of_queries(django_assert_max_num_queries):
    for i in range(30):
        make_job(
            library=("keras", "fastai")[i % 2],
            architecture=list(THESIS_TABLE_4_2)[i % 6],
            finished=i,
            status=TrainingJob.SUCCEEDED if i % 5 else TrainingJob.FAILED,
        )
    with django_assert_max_num_queries(1):
        rows = table_4_2(TrainingJob.objects.all())
    assert sum(r["job_id"] is not None for r in rows) == 6
    jobs = list(TrainingJob.objects.all())
    with django_assert_max_num_queries(1):
        table_4_2(jobs)
    with django_assert_max_num_queries(2):
        table_4_2(TrainingJob.objects.prefetch_related("metrics"))


def test_group_stats_give_mean_and_population_std_over_seeds():
    make_job(seed=1, final=(0.4, 0.8), accuracy=0.7, phase_seconds={"1": 10, "2": 30})
    make_job(seed=2, final=(0.6, 0.9), accuracy=0.9, phase_seconds={"1": 20, "2": 40})
    make_job(seed=3, status=TrainingJob.FAILED, final=(5.0, 0.0))
    make_job(library="keras", architecture="vgg16", final=(6.0, 0.7), phase_seconds={})
    rows = group_stats(TrainingJob.objects.all())

    assert [(r["library"], r["architecture"], r["count"]) for r in rows] == [
        ("keras", "vgg16", 1),
        ("fastai", "resnet50", 2),
    ]
    single, pair = rows
    assert (single["valid_loss_mean"], single["valid_loss_std"]) == (6.0, 0.0)
    assert single["test_accuracy_mean"] is None and single["total_seconds_mean"] is None
    assert pair["seeds"] == [1, 2]
    assert pair["valid_loss_mean"] == pytest.approx(0.5)
    assert pair["valid_loss_std"] == pytest.approx(0.1)
    assert pair["valid_accuracy_mean"] == pytest.approx(0.85)
    assert pair["valid_accuracy_std"] == pytest.approx(0.05)
    assert pair["test_accuracy_mean"] == pytest.approx(0.8)
    assert pair["test_accuracy_std"] == pytest.approx(0.1)
    assert (pair["total_seconds_mean"], pair["total_seconds_std"]) == (50.0, 10.0)


def test_comparison_csv_writes_header_and_rows():
    rows = [{"a": 1, "b": None, "c": "x,y"}, {"a": 0.25, "b": [1, 2], "c": "=cmd()"}]
    text = comparison_csv(rows, ["a", "b", "c"])
    assert text == 'a,b,c\n1,,"x,y"\n0.25,1;2,\'=cmd()\n'
    make_job(architecture="vgg19")
    table = list(
        csv.reader(
            io.StringIO(comparison_csv(table_4_2(TrainingJob.objects.all()), TABLE_4_2_COLUMNS))
        )
    )
    assert table[0] == TABLE_4_2_COLUMNS and len(table) == 13
    fastai_vgg19 = dict(zip(table[0], table[4], strict=False))
    assert (fastai_vgg19["valid_accuracy"], fastai_vgg19["thesis_valid_accuracy"]) == (
        "0.8",
        "0.868",
    )
    header = comparison_csv(group_stats(TrainingJob.objects.all()), GROUP_COLUMNS)
    assert header.splitlines()[0] == ",".join(GROUP_COLUMNS)


def test_runs_csv_has_one_row_per_job(django_assert_max_num_queries):
    ok = make_job(seed=7, accuracy=0.75, phase_seconds={"1": 12.5, "2": 30})
    failed = make_job(
        library="keras",
        architecture="vgg16",
        status=TrainingJob.FAILED,
        final=None,
        phase_seconds={},
    )
    with django_assert_max_num_queries(1):
        text = runs_csv(TrainingJob.objects.order_by("pk"))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == RUN_COLUMNS
    assert table[1] == [
        str(ok.pk),
        "fastai",
        "resnet50",
        "isic",
        "succeeded",
        "7",
        "2",
        "2",
        "0.5",
        "0.8",
        "0.75",
        "12.5",
        "30.0",
    ]
    assert table[2] == [
        str(failed.pk),
        "keras",
        "vgg16",
        "isic",
        "failed",
        "42",
        "2",
        "2",
        "",
        "",
        "",
        "",
        "",
    ]
