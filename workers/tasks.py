"""Celery tasks: thin. They hand the job id to ordinary code and return its outcome."""

from celery import shared_task


@shared_task(name="workers.ping")
def ping() -> str:
    """Round trip used by health checks and tests to prove a worker is consuming."""
    return "pong"


@shared_task(name="workers.run_training_job", bind=True, acks_late=True)
def run_training_job(self, job_id: int) -> str:
    from .supervisor import supervise

    return supervise(job_id, task_id=self.request.id or "", hostname=self.request.hostname or "")


@shared_task(name="workers.reap_stale_jobs")
def reap_stale_jobs() -> int:
    from .supervisor import reap_stale_jobs as reap

    return reap()


@shared_task(name="workers.predict_image")
def predict_image(prediction_id: int) -> str:
    """Try a run's model on one image (queue `predict`), in a child process."""
    from .training.inference import run_in_child

    return run_in_child(prediction_id)


@shared_task(name="workers.import_dataset")
def import_dataset_task(import_id: int) -> str:
    """Import a dataset (folder or uploaded zip) with progress, on the default queue."""
    from experiments.dataset_imports import run_import

    return run_import(import_id)
