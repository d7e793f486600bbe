"""The one way the domain starts background work: a Celery message sent by task name (and
which of those messages still wait on the broker, for the reconcilers).

`experiments` never imports `workers` (tests/project/test_layering.py checks it): it names the
task and publishes the message; the worker that registered that name runs it. The app is
Celery's current one, the project's (`config.celery_app`): Django's fix-up makes it the default
of every thread. Nothing here runs a task in-process: the tests and `make run` use a real broker
(Redis or the filesystem one), never `task_always_eager`, which `send_task` would ignore.
"""

from __future__ import annotations

import json
from pathlib import Path

from celery import current_app
from django.conf import settings

# The names the tasks are registered under (workers/tasks.py); routes in CELERY_TASK_ROUTES.
TRAINING = "workers.run_training_job"
PREDICTION = "workers.predict_image"
IMPORT = "workers.import_dataset"


def publish(task: str, args: list, *, queue: str, task_id: str | None = None) -> str:
    """Send one message to `queue`, retrying per JOB_PUBLISH_RETRY; returns its task id.

    Raises what kombu raises when the broker stays unreachable: callers log it and leave the
    object queued for the reconciler.
    """
    result = current_app.send_task(
        task,
        args=args,
        queue=queue,
        task_id=task_id,
        retry=True,
        retry_policy=settings.JOB_PUBLISH_RETRY,
    )
    return result.id


def waiting_task_ids(queue: str = "gpu") -> set[str] | None:
    """Task ids of the queue's messages still waiting on the broker (Redis: queued or delivered
    but unacknowledged; filesystem: queued); None when that cannot be known."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
        try:
            raw = [p.read_bytes() for p in Path(folder).glob(f"*.{queue}.msg")]
        except OSError:
            return None
    elif url.startswith(("redis://", "rediss://")):
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            raw = client.lrange(queue, 0, -1) + list(client.hvals("unacked"))
        except redis.RedisError:
            return None
    else:
        return None
    ids = set()
    for item in raw:
        try:
            message = json.loads(item)
            if isinstance(message, list):  # unacked entries: [message, exchange, routing key]
                message = message[0]
            ids.add(message["headers"]["id"])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return ids
