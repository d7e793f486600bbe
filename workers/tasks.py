"""Light tasks on the default queue. Training tasks arrive with the experiments engine."""

from celery import shared_task


@shared_task(name="workers.ping")
def ping() -> str:
    """Round trip used by health checks and tests to prove a worker is consuming."""
    return "pong"
