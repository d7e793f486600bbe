"""Celery tasks: thin. They hand the job id to ordinary code and return its outcome."""

from celery import shared_task
from celery.signals import worker_process_init, worker_ready

from .celery import app


@shared_task(name="workers.ping")
def ping() -> str:
    """Round trip used by health checks and tests to prove a worker is consuming."""
    return "pong"


@shared_task(name="workers.run_training_job", bind=True, acks_late=True)
def run_training_job(self, job_id: int) -> str:
    from celery.exceptions import Reject

    from .dbretry import DatabaseUnavailable
    from .supervisor import supervise

    try:
        return supervise(
            job_id, task_id=self.request.id or "", hostname=self.request.hostname or ""
        )
    except DatabaseUnavailable as exc:
        # Never acknowledge-and-drop: the message goes back to the queue for a later try.
        raise Reject(str(exc), requeue=True) from exc


@shared_task(name="workers.reap_stale_jobs")
def reap_stale_jobs() -> int:
    from experiments import background

    from .supervisor import reap_stale_jobs as reap

    return reap() + background.reap()


@shared_task(name="workers.reconcile_queued_jobs")
def reconcile_queued_jobs() -> list[int]:
    """Re-send queued jobs, predictions and imports whose message was lost, oldest first
    (see experiments.jobs.actions.reconcile and experiments.background.reconcile)."""
    from experiments import background
    from experiments.jobs.actions import reconcile

    sent = reconcile()
    background.reconcile()
    return sent


@shared_task(name="workers.prune_predictions")
def prune_predictions() -> int:
    """Daily (beat): delete predictions past PREDICTION_RETENTION_DAYS and their files."""
    from experiments.research.retention import prune_predictions as prune

    return len(prune().removed)


@shared_task(name="workers.predict_image")
def predict_image(prediction_id: int) -> str:
    """Try a run's model on one image (queue `predict`), in a child process."""
    from .training.inference import run_in_child

    return run_in_child(prediction_id)


@shared_task(name="workers.import_dataset")
def import_dataset_task(import_id: int) -> str:
    """Import a dataset (folder or uploaded zip) with progress, on the default queue."""
    from experiments.datasets.imports import run_import

    return run_import(import_id)


@worker_process_init.connect
def _warm_prediction_children_in_pool(**kwargs) -> None:
    """Prefork pool: each pool process that serves the `predict` queue starts its children."""
    _warm_prediction_children(app.amqp.queues.consume_from)


@worker_ready.connect
def _warm_prediction_children_solo(sender, **kwargs) -> None:
    """Solo pool: tasks run in the main process, which starts the children."""
    if type(sender.pool).__module__.endswith(".solo"):
        _warm_prediction_children(sender.app.amqp.queues.consume_from)


def _warm_prediction_children(queues) -> None:
    from django.conf import settings

    if "predict" in queues and settings.PREDICT_WARM_CHILDREN:
        from .training.inference import warm_up

        warm_up()
