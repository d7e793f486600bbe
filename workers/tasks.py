"""Celery tasks: thin. They hand the job id to ordinary code and return its outcome."""

from celery import shared_task


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
    from .supervisor import reap_stale_jobs as reap

    return reap()


@shared_task(name="workers.reconcile_queued_jobs")
def reconcile_queued_jobs() -> list[int]:
    """Re-send queued jobs whose message was lost (see experiments.jobs.reconcile)."""
    from experiments.jobs import reconcile

    return reconcile()


@shared_task(name="workers.predict_image")
def predict_image(prediction_id: int) -> str:
    """Try a run's model on one image (queue `predict`), in a child process."""
    from .training.inference import run_in_child

    return run_in_child(prediction_id)
