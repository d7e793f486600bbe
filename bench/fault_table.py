"""The fault table of issue 17: how long each kind of background object takes to reach a final
state after (a) a SIGKILL of the Celery worker that holds it and (b) a 30-second Redis outage.

    .venv/bin/python bench/fault_table.py [--outage 30] [--limit 600]

Production-like: DJANGO_DEBUG=0 settings (config.settings), a private PostgreSQL cluster and an
append-only redis-server (tests/faults/services.py starts both), and the workers of
docker-compose.yml: `default` (prefork, with beat: reaper and reconciler), `gpu` (threads, one
job at a time) and `predict` (prefork). The objects are created by the functions the views
call, in this process, on the same database and broker. A killed worker is started again at
once, as the compose restart policy does; a killed worker takes its whole process group (its
pool children, a job's process) with it.

Timings are shortened so that a run takes minutes (printed with the table): with the
production defaults a row's seconds grow by the setting it waits on (e.g. a killed
prediction waits for PREDICTION_DEADLINE, 900 s by default).

No --smoke: one run needs a trained model and several minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from common import PYTHON, machine_line, print_table  # noqa: E402

from tests.faults.services import PrivatePostgres, PrivateRedis, _wait_port  # noqa: E402

# Short versions of the production defaults (in brackets) so that each row takes seconds.
TIMINGS = {
    "JOB_RECONCILE_INTERVAL": "5",  # [30]
    "JOB_RESEND_AFTER": "10",  # [120]
    "JOB_STALE_AFTER": "30",  # [30]
    "PREDICTION_DEADLINE": "60",  # [900]
    "IMPORT_STALE_AFTER": "60",  # [900]
}
SMALL_JOB = {
    "architecture": "small-cnn",
    "image_size": 32,
    "batch_size": 8,
    "max_batches": 1,
    "epochs1": 1,
    "epochs2": 1,
    "pretrained": False,
    "run_lr_finder": False,
    "library": "fastai",
}
LONG_JOB = {**SMALL_JOB, "epochs2": 200}


class AppendOnlyRedis(PrivateRedis):
    """Redis as in production: an append-only file, so a restart keeps the queues."""

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.dir)],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_port(self.port, up=True)


class Worker:
    """One Celery worker in its own process group, as a container runs it."""

    ARGS = {
        "default": ["-Q", "default", "--pool", "prefork", "--concurrency", "2", "--beat"],
        "gpu": ["-Q", "gpu", "--pool", "threads", "--concurrency", "1"],
        "predict": ["-Q", "predict", "--pool", "prefork", "--concurrency", "1"],
    }

    def __init__(self, name: str, env: dict, logs: Path):
        self.name, self.env, self.logs = name, env, logs
        self.log = logs / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        args = [PYTHON, "-m", "celery", "-A", "workers", "worker", *self.ARGS[self.name],
                "--hostname", f"{self.name}@%h", "--prefetch-multiplier", "1",
                "--loglevel", "INFO", "--without-mingle", "--without-gossip"]  # fmt: skip
        if "--beat" in args:
            args += ["--schedule", str(self.logs / "beat-schedule")]
        self.process = subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait(lambda: b" ready." in self.log.read_bytes()[offset:], 180, f"worker {self.name}")

    def log_has(self, text: str) -> bool:
        return text.encode() in self.log.read_bytes()

    def kill(self) -> None:
        """SIGKILL the worker and everything it started."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def db(func):
    from workers.dbretry import with_db_retry

    return with_db_retry(func, "fault table", limit=90)


# --------------------------------------------------------------------------- the objects


class Kind:
    """How to create one object of a kind, read its state, and which worker holds it."""

    def __init__(self, label, worker, create, model_name, task_prefix=None):
        self.label, self.worker, self.create = label, worker, create
        self.model_name, self.task_prefix = model_name, task_prefix

    @property
    def model(self):
        from experiments import models

        return getattr(models, self.model_name)

    def state(self, pk: int) -> tuple[str, str]:
        status, error = db(lambda: self.model.objects.values_list("status", "error").get(pk=pk))
        return status, (error or "").split("\n\n")[0]  # the one line pages show

    def final(self, pk: int) -> bool:
        return self.state(pk)[0] in ("succeeded", "failed", "cancelled")

    def held(self, pk: int, worker: Worker) -> bool:
        """The worker has the object: its message received, or the object running."""
        if self.task_prefix and worker.log_has(f"[{self.task_prefix}-{pk}]"):
            return True
        if self.model_name == "TrainingJob":  # a job is killed mid-training
            from experiments.models import EpochMetric

            return db(lambda: EpochMetric.objects.filter(job_id=pk).exists())
        return self.state(pk)[0] == "running"


def build_kinds(world) -> list[Kind]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from experiments.datasets.imports import queue_import
    from experiments.jobs.actions import launch
    from experiments.research.predictions import request_image_prediction

    counter = iter(range(1, 1000))

    def job(long: bool):
        return launch({**(LONG_JOB if long else SMALL_JOB), "dataset": "digits"}).pk

    def prediction(long: bool):
        image = Image.new("RGB", (32, 32), (200, 30, 30))
        return request_image_prediction(world.trained, image, "bench.png").pk

    def folder_import(long: bool):
        source = world.big if long else world.small
        return queue_import(f"import-{next(counter)}", str(source), "default").pk

    def zip_upload(long: bool):
        data = (world.big_zip if long else world.small_zip).read_bytes()
        upload = SimpleUploadedFile("digits.zip", data, content_type="application/zip")
        return queue_import(f"upload-{next(counter)}", "", "default", zip_file=upload).pk

    return [
        Kind("training job", "gpu", job, "TrainingJob"),
        Kind("prediction", "predict", prediction, "ImagePrediction", "predict_image"),
        Kind("dataset import", "default", folder_import, "DatasetImport", "import_dataset"),
        Kind("zip upload", "default", zip_upload, "DatasetImport", "import_dataset"),
    ]


# --------------------------------------------------------------------------- the faults


def worker_kill(world, kind: Kind, limit: float) -> tuple[str, str, float]:
    worker = world.workers[kind.worker]
    pk = db(lambda: kind.create(True))
    wait(lambda: kind.held(pk, worker) or kind.final(pk), limit, f"{kind.label} {pk} held",
         interval=0.02)  # fmt: skip
    if kind.final(pk):  # too quick for this machine: no kill to measure
        return kind.state(pk)[0], "finished before the kill could land", float("nan")
    worker.kill()
    killed = time.monotonic()
    worker.start()  # the restart policy
    wait(lambda: kind.final(pk), limit, f"{kind.label} {pk} final after the kill", interval=1)
    return (*kind.state(pk), time.monotonic() - killed)


def redis_outage(world, kind: Kind, limit: float, outage: float) -> tuple[str, str, float]:
    world.redis.kill()
    down = time.monotonic()
    time.sleep(min(5, outage / 2))
    pk = db(lambda: kind.create(False))  # created while the broker is down
    time.sleep(max(0.0, outage - (time.monotonic() - down)))
    world.redis.start()
    back = time.monotonic()

    def final() -> bool:
        world.revive()
        return kind.final(pk)

    wait(final, limit, f"{kind.label} {pk} final after the outage", interval=1)
    return (*kind.state(pk), time.monotonic() - back)


# --------------------------------------------------------------------------- the instance


class World:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.pg = PrivatePostgres()
        self.redis = AppendOnlyRedis()
        self.pg.createdb("faults")
        self.data = tmp / "data"
        self.data.mkdir()
        self.env = {
            **os.environ,
            **TIMINGS,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "APP_VAR_DIR": str(tmp / "var"),
            "DATA_ROOTS": f"{self.data}:{tmp / 'var' / 'datasets'}",
            "DATABASE_URL": self.pg.url,
            "CELERY_BROKER_URL": self.redis.url,
            "LOG_LEVEL": "INFO",  # the workers' "received" lines tell who holds what
            "PYTHONUNBUFFERED": "1",
        }
        self.workers = {name: Worker(name, self.env, tmp) for name in Worker.ARGS}
        self.died: list[str] = []  # workers that exited on their own during a row

    def prepare(self) -> None:
        """Migrate, write the datasets, start the workers, train the model to try."""
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        from experiments.datasets.demo import write_digits
        from experiments.datasets.importer import ImportOptions, import_dataset

        call_command("migrate", verbosity=0)
        write_digits(self.data / "digits", per_class=12, size=32, classes=3)
        import_dataset(self.data / "digits", "digits", ImportOptions(test_fraction=0.25))
        self.small = self.data / "small"
        write_digits(self.small, per_class=12, size=32, classes=3)
        self.big = self.data / "big"  # long enough to be killed while it runs
        write_digits(self.big, per_class=170, size=96, classes=10)
        self.small_zip, self.big_zip = self.tmp / "small.zip", self.tmp / "big.zip"
        for folder, archive in ((self.small, self.small_zip), (self.big, self.big_zip)):
            with zipfile.ZipFile(archive, "w") as zf:
                for path in sorted(folder.rglob("*.png")):
                    zf.write(path, path.relative_to(folder).as_posix())
        for worker in self.workers.values():
            worker.start()
        from experiments.jobs.actions import launch
        from experiments.models import TrainingJob

        job = launch({**SMALL_JOB, "dataset": "digits"})
        wait(lambda: db(lambda: TrainingJob.objects.get(pk=job.pk).is_finished), 900, "model")
        self.trained = TrainingJob.objects.get(pk=job.pk)
        if self.trained.status != "succeeded":
            raise SystemExit(f"the model to try did not train: {self.trained.error}")

    def revive(self) -> None:
        """A restart policy: start again a worker that exited (Celery 5.7 exits with
        "Unrecoverable error" when the broker goes while it holds an unacknowledged message)."""
        for name, worker in self.workers.items():
            if worker.process and worker.process.poll() is not None:
                self.died.append(name)
                worker.start()

    def destroy(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        self.redis.destroy()
        self.pg.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=30, help="Redis outage (seconds)")
    parser.add_argument("--limit", type=float, default=600, help="wait per row at most (s)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # cleanup runs
    tmp = Path(tempfile.mkdtemp(prefix="fault-table-"))
    world = World(tmp)
    rows = []
    try:
        world.prepare()
        for kind in build_kinds(world):
            for fault, run in (
                ("worker SIGKILL", lambda k: worker_kill(world, k, args.limit)),
                (f"Redis down {args.outage:.0f} s", lambda k: redis_outage(world, k, args.limit,
                                                                             args.outage)),
            ):  # fmt: skip
                world.died.clear()
                try:
                    status, reason, seconds = run(kind)
                except TimeoutError as exc:
                    status, reason, seconds = "NOT FINAL", str(exc), float("nan")
                if world.died:
                    status += f" (after restarting {', '.join(world.died)}: it exited)"
                rows.append([kind.label, fault, status, reason[:90] or "-", f"{seconds:.0f}"])
                print(" | ".join(rows[-1]), flush=True)
    finally:
        world.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("Seconds: from the kill, or from Redis being back, to the final state.")
    print("Timings: " + ", ".join(f"{k}={v}" for k, v in TIMINGS.items()))
    print(machine_line(os.cpu_count(), "PostgreSQL 15 (private), redis-server appendonly"))
    print_table(["kind", "fault", "final state", "reason shown", "s"], rows, left=(0, 1, 2, 3))


if __name__ == "__main__":
    sys.exit(main())
