"""A real Celery worker (subprocess) on the real Redis broker, against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/15"


class Worker:
    def __init__(self, env: dict, name: str, queues: str, pool: str, beat: bool, log: Path):
        self.name = name
        args = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues,
                "--hostname", f"{name}@%h", "--pool", pool, "--concurrency", "1",
                "--prefetch-multiplier", "1", "--loglevel", "INFO", "--without-mingle",
                "--without-gossip"]
        if beat:
            args += ["--beat", "--schedule", str(log.parent / f"{name}-beat")]
        self.log = log
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("ab"),
                                        stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90) -> None:
        from workers.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            replies = app.control.ping(timeout=1.0, destination=None)
            if any(host.startswith(f"{self.name}@") for reply in replies for host in reply):
                return
        raise AssertionError(f"worker {self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def worker_env(transactional_db, settings, tmp_path):
    from django.db import connection

    from workers.supervisor import current_database_url

    redis.Redis.from_url(BROKER).flushdb()
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": current_database_url(),
        "CELERY_BROKER_URL": BROKER,
        "MEDIA_ROOT": str(media),
        "PYTHONUNBUFFERED": "1",
    }
    assert connection.settings_dict["NAME"].startswith("test_")
    return env


@pytest.fixture
def start_worker(worker_env, tmp_path):
    workers: list[Worker] = []

    def start(name="gpu-test", queues="gpu", pool="solo", beat=False, ready=True) -> Worker:
        worker = Worker(worker_env, name, queues, pool, beat, tmp_path / f"{name}.log")
        workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float, interval: float = 0.5, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message}")
