"""Training jobs through a real Celery worker on Redis, with Postgres: the whole path.

Small real jobs (scikit-learn digits, 32 px, small CNN, a couple of batches per epoch) so the
suite stays within minutes on a 2-core CPU.
"""

import os
import signal
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from experiments.jobs.actions import cancel, create_job, launch
from experiments.models import EpochMetric, TrainingJob, WorkerHeartbeat
from tests.conftest import wait_for
from workers.supervisor import STALE_AFTER_SECONDS, reap_stale_jobs, supervise
from workers.tasks import run_training_job

pytestmark = [pytest.mark.slow]

SMALL = {
    "architecture": "small-cnn",
    "image_size": 32,
    "batch_size": 8,
    "max_batches": 2,
    "epochs1": 1,
    "epochs2": 1,
    "pretrained": False,
}
LONG = {**SMALL, "max_batches": 1, "epochs2": 300}  # runs long enough to interrupt


def job_status(job):
    job.refresh_from_db()
    return job.status


def finished(job):
    return job_status(job) in TrainingJob.FINISHED


def test_keras_and_fastai_jobs_run_through_a_worker(start_worker, tiny_dataset, settings):
    start_worker()
    jobs = [
        launch({"library": lib, "dataset": tiny_dataset, **SMALL}) for lib in ("fastai", "keras")
    ]
    for job in jobs:
        wait_for(lambda job=job: finished(job), 300, message=f"job {job.pk} to finish")
    beats = {w.hostname: w for w in WorkerHeartbeat.objects.all()}
    gpu_beat = next(w for name, w in beats.items() if name.startswith("gpu-test@"))
    assert gpu_beat.queues == ["gpu"] and gpu_beat.gpu_name == ""
    for job in jobs:
        assert job.status == TrainingJob.SUCCEEDED, job.error
        rows = list(job.metrics.values_list("phase", "epoch"))
        assert rows == [(1, 1), (2, 1)]
        for metric in job.metrics.all():
            assert metric.train_loss is not None and metric.valid_loss is not None
            assert 0 <= metric.valid_accuracy <= 1 and metric.images_per_second > 0
        evaluation = job.evaluation
        assert len(evaluation["confusion_matrix"]) == 3
        assert sum(map(sum, evaluation["confusion_matrix"])) == evaluation["n_test"] == 12
        assert {c["class"] for c in evaluation["per_class"]} == {"0", "1", "2"}
        assert evaluation["top_losses"] and "most_confused" in evaluation
        assert job.lr_finder["lrs"] and job.lr_finder["losses"]
        manifest = job.manifest
        assert manifest["dataset_manifest_hash"] == tiny_dataset.manifest_hash
        assert manifest["seed"] == 42 and manifest["code_revision"]
        assert job.library in manifest["libraries"]
        assert job.device == "cpu" and job.worker_host.startswith("gpu-test@")
        assert job.started_at <= job.finished_at and set(job.phase_seconds) == {"1", "2"}
        workdir = Path(settings.MEDIA_ROOT) / job.workdir
        assert (Path(settings.MEDIA_ROOT) / evaluation["model_file"]).is_file()
        log = (workdir / "job.log").read_text()
        assert "phase 2 epoch 1" in log
        # Library progress bars must not flood the log: one line per epoch, not per batch.
        assert "━" not in log and "%|" not in log and len(log.splitlines()) < 80


def train_args(epochs2: int, max_batches: int) -> list[str]:
    """`manage.py train` for a small fastai job on the tiny dataset, LR finder off."""
    return ["train", "--library", "fastai", "--arch", "small-cnn", "--dataset", "tiny",
            "--epochs", "1", str(epochs2), "--size", "32", "--batch-size", "8",
            "--max-batches", str(max_batches), "--no-lr-finder"]  # fmt: skip


def test_train_command_runs_in_the_foreground(worker_env, tiny_dataset, capsys):
    call_command(*train_args(epochs2=1, max_batches=2))
    job = TrainingJob.objects.get()
    assert job.status == TrainingJob.SUCCEEDED and job.worker_host
    assert job.metrics.count() == 2
    assert job.run_lr_finder is False and job.lr_finder == {}
    assert "succeeded: test accuracy" in capsys.readouterr().out


def test_cancel_while_queued_never_starts(start_worker, tiny_dataset):
    job = launch({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    assert cancel(job) == "cancelled"
    start_worker()
    time.sleep(5)  # the worker has taken the message by now and must have skipped it
    job.refresh_from_db()
    assert job.status == TrainingJob.CANCELLED
    assert job.started_at is None and not job.metrics.exists()


def test_cancel_while_running_stops_within_seconds(start_worker, tiny_dataset):
    start_worker()
    job = launch({"library": "fastai", "dataset": tiny_dataset, **LONG})
    wait_for(lambda: job.metrics.exists(), 120, message="a first epoch")
    asked = time.monotonic()
    assert cancel(job) == "stopping"
    wait_for(lambda: finished(job), 30, message="the running job to stop")
    assert time.monotonic() - asked < 30
    assert job.status == TrainingJob.CANCELLED
    kept = job.metrics.count()
    assert 1 <= kept < job.total_epochs
    assert "metrics so far are kept" in job.error


def test_sigkill_of_the_job_process_fails_only_that_job(start_worker, tiny_dataset):
    start_worker()
    doomed = launch({"library": "fastai", "dataset": tiny_dataset, **LONG})
    after = launch({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    wait_for(lambda: doomed.metrics.exists(), 120, message="the first job to train")
    doomed.refresh_from_db()
    os.kill(doomed.process_id, signal.SIGKILL)
    wait_for(lambda: finished(doomed), 30, message="the killed job to be failed")
    assert doomed.status == TrainingJob.FAILED and "SIGKILL" in doomed.error
    # The worker survives and runs the next job.
    wait_for(lambda: finished(after), 180, message="the next job")
    assert after.status == TrainingJob.SUCCEEDED


def test_sigkill_of_the_worker_fails_its_job_within_a_minute(start_worker, tiny_dataset):
    start_worker(name="beat-test", queues="default", pool="prefork", beat=True)
    gpu = start_worker()
    job = launch({"library": "fastai", "dataset": tiny_dataset, **LONG})
    wait_for(lambda: job.metrics.exists(), 120, message="the job to train")
    job.refresh_from_db()
    child = job.process_id
    gpu.kill(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: finished(job), 60, message="the orphaned job to be failed")
    assert time.monotonic() - killed_at < 60
    assert job.status == TrainingJob.FAILED and "heartbeat" in job.error
    # The job's own process went with its worker.
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_the_same_message_twice_never_runs_a_job_twice(start_worker, tiny_dataset):
    start_worker()
    job = launch({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    wait_for(lambda: job_status(job) == TrainingJob.RUNNING, 60, message="the job to start")
    # A second delivery while it runs: the database says it is running with a fresh heartbeat.
    assert supervise(job.pk, task_id="duplicate") == "skipped"
    wait_for(lambda: finished(job), 180, message="the job to finish")
    first = (job.started_at, job.attempt, job.metrics.count())
    # And again once it has finished: the redelivered message is consumed and skipped.
    run_training_job.apply_async(args=[job.pk], queue="gpu")
    time.sleep(5)
    job.refresh_from_db()
    assert (job.started_at, job.attempt, job.metrics.count()) == first
    assert job.status == TrainingJob.SUCCEEDED


@pytest.mark.django_db
def test_reaper_fails_running_jobs_without_heartbeat(tiny_dataset):
    from datetime import timedelta

    from django.utils import timezone

    job = create_job({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    old = timezone.now() - timedelta(seconds=STALE_AFTER_SECONDS + 5)
    TrainingJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=old)
    fresh = create_job({"library": "fastai", "dataset": tiny_dataset, **SMALL})
    TrainingJob.objects.filter(pk=fresh.pk).update(status="running", heartbeat_at=timezone.now())
    assert reap_stale_jobs() == 1
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == TrainingJob.FAILED and "No heartbeat" in job.error
    assert fresh.status == TrainingJob.RUNNING
    EpochMetric.objects.create(job=job, phase=1, epoch=1, seconds=1, images_per_second=1)
    # A retry of the same epoch overwrites its row instead of adding one.
    EpochMetric.objects.update_or_create(
        job=job, phase=1, epoch=1, defaults={"seconds": 2, "images_per_second": 2}
    )
    assert job.metrics.count() == 1


def test_ctrl_c_on_the_train_command_cancels_the_job(worker_env, tiny_dataset):
    import subprocess
    import sys

    from tests.conftest import ROOT

    command = [sys.executable, "manage.py", *train_args(epochs2=300, max_batches=1)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: EpochMetric.objects.exists(), 120, message="a first epoch")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=300)  # a condition, not a duration: the cancel
    finally:
        process.kill()
    job = TrainingJob.objects.get()
    assert job.status == TrainingJob.CANCELLED, output
    assert process.returncode != 0 and "cancelled" in output
    assert 1 <= job.metrics.count() < job.total_epochs
