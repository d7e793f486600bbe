"""The fault suite's world: its own PostgreSQL cluster and redis-server, a `gpu` worker and a
`default` worker with beat (reaper + reconciler), all pointed at them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import Worker, wait_for
from tests.faults.services import PrivatePostgres, PrivateRedis
from workers.dbretry import with_db_retry

# Short timings so faults resolve in seconds (production defaults are minutes).
FAULT_ENV = {
    "JOB_RESEND_AFTER": "4",
    "JOB_RECONCILE_INTERVAL": "2",
    "JOB_STALE_AFTER": "20",
    "JOB_DB_OUTAGE_SECONDS": "120",
    "JOB_STALL_SECONDS": "20",
    "JOB_START_SECONDS": "600",
}


@pytest.fixture(scope="module")
def services():
    pg, rd = PrivatePostgres(), PrivateRedis()
    pg.createdb("faults")
    yield pg, rd
    pg.destroy()
    rd.destroy()


def _use_broker(url: str) -> None:
    """Point this process's Celery app (and settings) at another broker."""
    from django.conf import settings

    from workers.celery import app

    settings.CELERY_BROKER_URL = url
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads the environment first
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="module")
def fault_world(services, django_db_blocker, tmp_path_factory):
    """This process's default database and broker point at the private servers."""
    from django.conf import settings
    from django.core.management import call_command

    pg, rd = services
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    saved_broker = settings.CELERY_BROKER_URL
    media = tmp_path_factory.mktemp("fault-media")
    data = tmp_path_factory.mktemp("fault-data")
    saved_media, saved_roots = settings.MEDIA_ROOT, settings.DATA_ROOTS
    with django_db_blocker.unblock():
        conn.close()
        conn.settings_dict.update(
            NAME="faults", HOST="127.0.0.1", PORT=str(pg.port), USER="postgres", PASSWORD=""
        )
        conn.settings_dict.setdefault("TEST", {})
        call_command("migrate", verbosity=0)
        _use_broker(rd.url)
        settings.MEDIA_ROOT, settings.DATA_ROOTS = media, [data]
        env = {
            **os.environ,
            **FAULT_ENV,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": pg.url,
            "CELERY_BROKER_URL": rd.url,
            "MEDIA_ROOT": str(media),
            "DATA_ROOTS": str(data),
            "PYTHONUNBUFFERED": "1",
        }
        world = World(pg, rd, env, media, data, tmp_path_factory.mktemp("fault-logs"))
        try:
            yield world
        finally:
            world.stop_workers()
            conn.close()
            conn.settings_dict.clear()
            conn.settings_dict.update(saved)
            settings.MEDIA_ROOT, settings.DATA_ROOTS = saved_media, saved_roots
            _use_broker(saved_broker)


class World:
    def __init__(self, pg, rd, env, media: Path, data: Path, logs: Path):
        self.pg, self.redis, self.env = pg, rd, env
        self.media, self.data, self.logs = media, data, logs
        self.workers: list[Worker] = []

    def start_worker(self, name: str, queues: str, beat: bool = False, **env) -> Worker:
        worker = Worker({**self.env, **env}, name, queues, "solo", beat, self.logs / f"{name}.log")
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {w.name}\n{w.log.read_text(errors='replace')[-2500:]}" for w in self.workers
        )


def db(func):
    """A query from the test process that rides out the outages the test itself causes."""
    return with_db_retry(func, "checking from the test", limit=90)


def wait_jobs(jobs, timeout: float, world: World) -> float:
    """Wait until every job is finished; returns the seconds it took."""
    from experiments.models import TrainingJob

    started = time.monotonic()
    ids = [j.pk for j in jobs]

    def done():
        statuses = db(
            lambda: list(TrainingJob.objects.filter(pk__in=ids).values_list("status", flat=True))
        )
        return all(s in TrainingJob.FINISHED for s in statuses)

    try:
        wait_for(done, timeout, interval=1.0, message=f"jobs {ids} to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{world.logs_tail()}") from exc
    return time.monotonic() - started
