import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

# Playwright's sync API runs an event loop in the test thread; Django's ORM guard would refuse
# the database access that live_server tests do around it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the content once into the test database; tests roll back around it."""
    from guide.contentio import load_content

    with django_db_blocker.unblock():
        load_content()


@pytest.fixture
def content(db):
    """The guide's real content from guide/content/*.yaml (reloaded only after a flush)."""
    from guide.contentio import load_content
    from guide.models import Mooc

    if not Mooc.objects.exists():
        load_content()


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WORKER_CACHE_DIR = tmp_path / "worker-cache"


@pytest.fixture(autouse=True)
def fresh_local_cache():
    """Each test starts like a new web process: no kept guide pages or search results (tests
    change content with update(), which an admin edit never does, and roll it back)."""
    from django.core.cache import caches

    caches["local"].clear()


@pytest.fixture
def tiny_dataset(db, tmp_path_factory, settings):
    """A small real-image dataset (scikit-learn digits, 3 classes, 32 px) in the database."""
    from experiments.datasets.demo import write_digits
    from experiments.datasets.importer import ImportOptions, import_dataset

    root = tmp_path_factory.mktemp("digits")
    settings.DATA_ROOTS = [root]
    write_digits(root, per_class=16, size=32, classes=3)
    return import_dataset(root, "tiny", ImportOptions(test_fraction=0.25, seed=0)).dataset


@pytest.fixture
def researcher(db, django_user_model):
    from experiments.roles import ensure_researchers_group

    user = django_user_model.objects.create_user("rita", password="password")
    user.groups.add(ensure_researchers_group())
    return user


@pytest.fixture
def visitor(db, django_user_model):
    """Logged in, but not a researcher."""
    return django_user_model.objects.create_user("victor", password="password")


def make_job(dataset=None, **fields):
    """A finished-looking job row with metrics, for page and figure tests."""
    from experiments.jobs.presets import TABLE_4_1
    from experiments.models import EpochMetric, TrainingJob

    library = fields.pop("library", "fastai")
    values = {
        **TABLE_4_1[library],
        "library": library,
        "architecture": "resnet50",
        "dataset": dataset,
        "dataset_name": dataset.name if dataset else "gone",
        "epochs1": 2,
        "epochs2": 3,
        "status": "succeeded",
        "evaluation": {
            "accuracy": 0.5,
            "classes": ["a", "b"],
            "per_class": [],
            "confusion_matrix": [[1, 1], [0, 2]],
            "most_confused": [],
            "top_losses": [],
            "n_test": 4,
        },
        "phase_seconds": {"1": 10.0, "2": 20.0},
    }
    values.update(fields)
    job = TrainingJob.objects.create(**values)
    rows = [(1, e) for e in range(1, job.epochs1 + 1)] + [(2, e) for e in range(1, job.epochs2 + 1)]
    EpochMetric.objects.bulk_create(
        EpochMetric(
            job=job,
            phase=p,
            epoch=e,
            train_loss=1.0 / (p + e),
            valid_loss=1.2 / (p + e),
            valid_accuracy=0.5 + 0.01 * e,
            learning_rate=1e-3,
            seconds=1.0,
            images_per_second=100.0,
        )
        for p, e in rows
    )
    return job


# --- A real Celery worker (subprocess) on the real Redis broker, against the test database.


ROOT = Path(__file__).resolve().parents[1]
# TEST_BROKER_URL lets parallel checkouts use their own Redis database.
BROKER = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


class Worker:
    def __init__(self, env: dict, name: str, queues: str, pool: str, beat: bool, log: Path):
        self.name = name
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "worker",
            "-Q",
            queues,
            "--hostname",
            f"{name}@%h",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ]
        if beat:
            args += ["--beat", "--schedule", str(log.parent / f"{name}-beat")]
        self.log = log
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )

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
        "WORKER_CACHE_DIR": str(settings.WORKER_CACHE_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    assert connection.settings_dict["NAME"].startswith("test_")
    return env


@pytest.fixture
def start_worker(worker_env, tmp_path, settings):
    workers: list[Worker] = []

    def start(name="gpu-test", queues="gpu", pool="solo", beat=False, ready=True) -> Worker:
        # The worker sees the data roots the test set (imports check paths against them).
        worker_env["DATA_ROOTS"] = ":".join(str(root) for root in settings.DATA_ROOTS)
        worker_env["DATASET_UPLOAD_ROOT"] = str(settings.DATASET_UPLOAD_ROOT)
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
