"""The Celery app. Tasks live in each app's tasks.py and stay thin."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("moocguide")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_heartbeat = {}


@worker_ready.connect
def _start_heartbeat(sender, **kwargs):
    from .heartbeat import start

    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    slots = getattr(getattr(sender, "controller", None), "concurrency", 1) or 1
    _heartbeat["stop"] = start(sender.hostname, queues, slots=slots)


@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs):
    if "stop" in _heartbeat:
        _heartbeat["stop"].set()
