#!/usr/bin/env python3
"""Training throughput: the bare library loop vs the same training as a full job.

Per library (keras, fastai) it trains the same small model (small-cnn, random init) on the same
data with the same settings two ways, one after the other in the same run:

  bare  the backend's train() called directly, with workers.training.reporting.MemoryReporter:
        no database, no Celery, no supervisor. It runs in a fresh helper process of this script
        (one per library, so TensorFlow and torch never share a process and each run starts
        cold, exactly like a job's child), with the data handed over as a JSON list of paths.
  job   experiments.jobs.actions.launch() -> a real Celery worker subprocess (queue gpu,
        --pool solo) on
        Redis -> workers.supervisor.supervise() -> `python -m workers.training.runner JOB_ID`
        -> the same backend -> EpochMetric rows in PostgreSQL.

Images/s come from the epoch rows (MemoryReporter rows for bare, EpochMetric.images_per_second
for the job); steady state excludes the first epoch of each phase (graph tracing / warm-up).

    .venv/bin/python bench/training_throughput.py [--library keras|fastai|both] [--size 64]
        [--batches 20] [--epochs1 1] [--epochs 2] [--dataset isic|demo] [--json out.json]

See bench/README.md. A benchmark, not a test: exit status 0 whether the target is met or not,
1 when the setup or a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import PYTHON, REPO

ISIC_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "skin-cancer-isic-180"
TARGET_RATIO = 0.95
# Redis db 15 is the test suite's (tests/conftest.py flushes it and runs its own "gpu" workers
# on it): a bench worker there would take the tests' jobs and vice versa. Default: db 14.
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"


# --------------------------------------------------------------------------- bare helper


class TimedReporter:
    """MemoryReporter plus a wall-clock timestamp on every call (same calls as DbReporter)."""

    def __init__(self):
        from workers.training.reporting import MemoryReporter

        self.inner = MemoryReporter()
        self.events: list[tuple[str, float, str]] = []

    def phase_started(self, phase, epochs, batches_per_epoch):
        self.events.append(("phase_start", time.time(), f"{phase}"))
        self.inner.phase_started(phase, epochs, batches_per_epoch)

    def batch_done(self):
        self.inner.batch_done()

    def epoch_done(self, phase, epoch, **metrics):
        self.inner.epoch_done(phase, epoch, **metrics)
        self.events.append(("epoch_done", time.time(), f"{phase}.{epoch}"))

    def should_stop(self):
        return self.inner.should_stop()

    def lr_finder_done(self, phase, lrs, losses, suggestion):
        self.events.append(("lr_done", time.time(), ""))
        self.inner.lr_finder_done(phase, lrs, losses, suggestion)

    def log(self, message):
        self.events.append(("log", time.time(), message))
        self.inner.log(message)


def bare_main(spec_path: str, out_path: str, spawned_at: float) -> None:
    """Runs in the helper process: import the library, train(), write timings as JSON."""
    started = time.time()
    payload = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as runner.main
    sys.path.insert(0, str(REPO))
    from workers.training.base import get_backend, seed_everything
    from workers.training.runner import effective_spec
    from workers.training.spec import JobSpec, SplitData

    spec = JobSpec(**payload["spec"])
    if spec.library == "keras":  # "auto" resolved as the runner does (Keras knows no "auto")
        from workers.training.devices import resolve_keras_backend

        spec = replace(spec, keras_backend=resolve_keras_backend(spec.keras_backend).backend)
        os.environ["KERAS_BACKEND"] = spec.keras_backend
    backend = get_backend(spec.library)  # fastai: imports torch + fastai here, as in the job
    backend.check_weights(spec)
    # keras: imports its backend here, as the runner does; the device's settings applied too
    spec = effective_spec(spec, backend.device_name())
    imported = time.time()
    data = SplitData(
        classes=payload["classes"],
        **{
            split: [(Path(p), y) for p, y in payload[split]] for split in ("train", "valid", "test")
        },
    )
    seed_everything(spec.seed)
    reporter = TimedReporter()
    workdir = Path(payload["workdir"])
    train_started = time.time()
    backend.train(spec, data, reporter, workdir)
    finished = time.time()
    Path(out_path).write_text(
        json.dumps(
            {
                "spawned_at": spawned_at,
                "interpreter_up": started,
                "imported": imported,
                "train_started": train_started,
                "finished": finished,
                "events": reporter.events,
                "epochs": reporter.inner.epochs,
                "phases": reporter.inner.phases,
            }
        )
    )


# --------------------------------------------------------------------------- environment


def bench_env(args, media: Path, data_roots: list[Path]) -> dict[str, str]:
    return common.django_env(
        args,
        "bench-only-secret-key-not-for-production-8e2d4c1b7a",
        CELERY_BROKER_URL=args.broker,
        MEDIA_ROOT=str(media),
        DATA_ROOTS=":".join(str(p) for p in data_roots),
    )


def import_data(args, tmp: Path):
    """Import the dataset in this process (the bench's Django points at the bench DB)."""
    from experiments.datasets.importer import PRESETS, ImportOptions, import_dataset

    if args.dataset == "isic":
        if not ISIC_ROOT.is_dir():
            raise SystemExit(f"{ISIC_ROOT} is missing; use --dataset demo")
        result = import_dataset(ISIC_ROOT, "isic-bench", PRESETS["isic-thesis"], "isic-thesis")
    else:
        from experiments.datasets.demo import write_digits

        root = tmp / "digits"
        write_digits(root)
        result = import_dataset(root, "digits-bench", ImportOptions(seed=0))
    return result.dataset


# --------------------------------------------------------------------------- worker


class Worker:
    """A real Celery worker subprocess, as tests/conftest.py starts it."""

    def __init__(self, env: dict, log: Path):
        self.name = "bench-gpu"
        self.log = log
        self.process = subprocess.Popen(
            [
                PYTHON, "-m", "celery", "-A", "workers", "worker",
                "-Q", "gpu", "--hostname", f"{self.name}@%h", "--pool", "solo",
                "--concurrency", "1", "--prefetch-multiplier", "1", "--loglevel", "INFO",
                "--without-mingle", "--without-gossip",
            ],
            cwd=REPO,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 90) -> float:
        from workers.celery import app

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"worker exited:\n{self.log.read_text()[-3000:]}")
            replies = app.control.ping(timeout=1.0)
            if any(host.startswith(f"{self.name}@") for r in replies for host in r):
                return time.monotonic() - t0
        raise SystemExit(f"worker not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        common.stop_process_group(self.process, timeout=30)


# --------------------------------------------------------------------------- runs


def job_params(args, library: str, dataset) -> dict:
    return {
        "library": library,
        "architecture": "small-cnn",
        "dataset": dataset,
        "image_size": args.size,
        "batch_size": args.batch_size,
        "augmentation": True,
        "pretrained": False,
        "epochs1": args.epochs1,
        "epochs2": args.epochs,
        "max_batches": args.batches,
        "seed": 42,
    }


def run_bare(args, library: str, dataset, env, tmp: Path) -> dict:
    from experiments.jobs.actions import validate
    from workers.training.spec import JobSpec, SplitData

    values = validate(job_params(args, library, dataset))
    names = JobSpec.__dataclass_fields__.keys() - {"job_id", "run_lr_finder"}
    spec = JobSpec(job_id=0, run_lr_finder=True, **{n: values[n] for n in names})
    data = SplitData.from_dataset(dataset, Path(dataset.root))  # the folder it was imported from
    spec_path, out_path = tmp / f"bare-{library}.json", tmp / f"bare-{library}-out.json"
    spec_path.write_text(
        json.dumps(
            {
                "spec": spec.as_dict(),
                "classes": data.classes,
                "workdir": str(tmp / f"bare-{library}"),
                **{
                    s: [(str(p), y) for p, y in getattr(data, s)]
                    for s in ("train", "valid", "test")
                },
            }
        )
    )
    spawned = time.time()
    proc = subprocess.run(
        [PYTHON, __file__, "--_bare", str(spec_path), str(out_path), repr(spawned)],
        cwd=REPO,
        env={k: v for k, v in env.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
    )
    ended = time.time()
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise SystemExit(f"bare {library} run failed (exit {proc.returncode})")
    out = json.loads(out_path.read_text())
    events = out["events"]
    epochs = [
        {
            "phase": e["phase"],
            "epoch": e["epoch"],
            "seconds": e["seconds"],
            "images": e["images"],
            "ips": e["images"] / e["seconds"] if e["seconds"] > 0 else 0.0,
        }
        for e in out["epochs"]
    ]
    return {
        "mode": "bare",
        "epochs": epochs,
        "t_spawn": spawned,
        "t_interpreter_up": out["interpreter_up"],
        "t_ready": out["imported"],
        "t_phase1": next(t for k, t, m in events if k == "phase_start"),
        "t_last_epoch": [t for k, t, _ in events if k == "epoch_done"][-1],
        "t_end": out["finished"],
        "t_process_exit": ended,
    }


def run_job(args, library: str, dataset, media: Path) -> dict:
    from experiments.jobs.actions import launch
    from experiments.models import EpochMetric, TrainingJob

    launched = time.time()
    job = launch(job_params(args, library, dataset))
    deadline = time.monotonic() + args.job_timeout
    finished = (TrainingJob.SUCCEEDED, TrainingJob.FAILED, TrainingJob.CANCELLED)
    t_ready = t_phase1 = None
    status = TrainingJob.QUEUED
    # The child logs without timestamps (Django's LOGGING has no formatter), so the start-up
    # markers are observed by polling the job row: 10 Hz until phase 1 starts, then 2 Hz.
    while time.monotonic() < deadline:
        row = TrainingJob.objects.values("status", "device", "progress_phase", "heartbeat_at").get(
            pk=job.pk
        )
        now = time.time()
        status = row["status"]
        if t_ready is None and row["device"]:
            t_ready = now  # runner wrote device + manifest: Django, DB, backend imports done
        if t_phase1 is None and row["progress_phase"] >= 1:
            # phase_started() set heartbeat_at = now; a later supervisor beat can only be newer
            t_phase1 = min(now, row["heartbeat_at"].timestamp())
            t_ready = t_ready or t_phase1
        if status in finished:
            break
        time.sleep(0.1 if t_phase1 is None else 0.5)
    observed = time.time()
    job.refresh_from_db()
    log_path = media / "jobs" / str(job.pk) / "job.log"
    if job.status != TrainingJob.SUCCEEDED:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        raise SystemExit(f"job {job.pk} ({library}) is {status}: {job.error[:2000]}\n{tail}")
    rows = list(EpochMetric.objects.filter(job=job).order_by("phase", "epoch"))
    epochs = [
        {
            "phase": r.phase,
            "epoch": r.epoch,
            "seconds": r.seconds,
            "images": r.images_per_second * r.seconds,
            "ips": r.images_per_second,
        }
        for r in rows
    ]
    return {
        "mode": "job",
        "job_id": job.pk,
        "epochs": epochs,
        "t_launch": launched,
        "t_spawn": job.started_at.timestamp(),  # claim; the child is spawned right after
        "t_ready": t_ready,
        "t_phase1": t_phase1,
        "t_last_epoch": max(r.recorded_at.timestamp() for r in rows),
        "t_end": job.finished_at.timestamp(),
        "t_observed": observed,
        "log": str(log_path),
    }


def db_write_costs(dataset, n: int = 20) -> dict:
    """Time DbReporter.epoch_done (EpochMetric upsert + job row update) and the cancel poll
    on a scratch job row (never enqueued), from this process, against the bench database."""
    from experiments.jobs.actions import create_job
    from workers.training import db_reporter
    from workers.training.db_reporter import DbReporter

    job = create_job(
        {"library": "keras", "architecture": "small-cnn", "dataset": dataset,
         "pretrained": False, "epochs1": 1, "epochs2": n}
    )  # fmt: skip
    try:
        reporter = DbReporter(job)
        metrics = dict(
            train_loss=1.0, valid_loss=1.0, valid_accuracy=0.5, learning_rate=1e-3,
            seconds=1.0, images=640,
        )  # fmt: skip
        reporter.epoch_done(1, 1, **metrics)  # warm the connection and the statements
        t0 = time.perf_counter()
        for e in range(1, n + 1):
            reporter.epoch_done(2, e, **metrics)
        epoch_ms = (time.perf_counter() - t0) / n * 1000
        t0 = time.perf_counter()
        for _ in range(n):
            reporter._last_poll = 0.0  # force the query each time
            reporter.should_stop()
        poll_ms = (time.perf_counter() - t0) / n * 1000
    finally:
        job.delete()
    return {
        "epoch_done_ms": epoch_ms,
        "cancel_poll_ms": poll_ms,
        "cancel_poll_every_s": db_reporter.CANCEL_POLL_SECONDS,
    }


# --------------------------------------------------------------------------- reporting


def steady(epochs: list[dict]) -> list[dict]:
    return [e for e in epochs if e["epoch"] > 1]


def rate(epochs: list[dict]) -> float | None:
    seconds = sum(e["seconds"] for e in epochs)
    return sum(e["images"] for e in epochs) / seconds if seconds > 0 else None


def segments(run: dict) -> dict[str, float | None]:
    def gap(a, b):
        return None if run.get(a) is None or run.get(b) is None else run[b] - run[a]

    out = {
        "queue (launch -> claim)": gap("t_launch", "t_spawn"),
        "start+imports (spawn -> ready)": gap("t_spawn", "t_ready"),
        "data+model+LR finder (ready -> phase 1)": gap("t_ready", "t_phase1"),
        "training epochs (phase 1 -> last epoch)": gap("t_phase1", "t_last_epoch"),
        "save+predict+finish (-> done)": gap("t_last_epoch", "t_end"),
        "end-to-end": gap("t_launch" if "t_launch" in run else "t_spawn", "t_end"),
    }
    if "t_interpreter_up" in run:
        out["  of which python interpreter start"] = gap("t_spawn", "t_interpreter_up")
    return out


def fmt(value, spec=".1f", none="-") -> str:
    return none if value is None else format(value, spec)


def print_library(library: str, bare: dict, job: dict, db: dict, args) -> dict:
    rows = []
    sb, sj = rate(steady(bare["epochs"])), rate(steady(job["epochs"]))
    ab, aj = rate(bare["epochs"]), rate(job["epochs"])
    n_steady = len(steady(job["epochs"]))
    rows.append((f"img/s steady ({n_steady} ep, 1st of each phase excluded)", sb, sj))
    rows.append(("img/s all epochs", ab, aj))
    for eb, ej in zip(bare["epochs"], job["epochs"], strict=False):
        rows.append((f"  phase {eb['phase']} epoch {eb['epoch']} img/s", eb["ips"], ej["ips"]))
    print(
        f"\n== {library}: small-cnn random init, {args.size} px, batch {args.batch_size}, "
        f"augmentation on, epochs {args.epochs1}+{args.epochs}, max_batches {args.batches}, "
        f"dataset {args.dataset}"
    )
    print(f"{'':56}{'bare':>10}{'job':>10}{'job/bare':>10}")
    for name, b, j in rows:
        ratio = j / b if b and j else None
        print(f"{name:56}{fmt(b):>10}{fmt(j):>10}{fmt(ratio, '.3f'):>10}")
    print(f"{'wall seconds':56}")
    seg_b, seg_j = segments(bare), segments(job)
    for name in list(seg_j) + [k for k in seg_b if k not in seg_j]:
        b, j = seg_b.get(name), seg_j.get(name)
        diff = j - b if b is not None and j is not None else None
        print(f"  {name:54}{fmt(b, '.2f'):>10}{fmt(j, '.2f'):>10}{fmt(diff, '+.2f'):>10}")
    print("  (last column for wall rows: job - bare seconds)")
    epoch_s = sj and (args.batches * args.batch_size) / sj
    start_key = "start+imports (spawn -> ready)"
    start_extra = seg_j[start_key] - seg_b[start_key]
    print(
        f"fixed overheads: child start (python + Django + DB + imports) vs bare: "
        f"{start_extra:+.2f} s;"
        f" queue delivery {fmt(seg_j['queue (launch -> claim)'], '.2f')} s;"
        f" DB writes per epoch {db['epoch_done_ms']:.1f} ms (outside the epoch timing);"
        f" cancel poll {db['cancel_poll_ms']:.1f} ms every {db['cancel_poll_every_s']:g} s"
        + (
            f" (~{db['cancel_poll_ms'] / 1000 / db['cancel_poll_every_s'] * 100:.2f}% of an "
            f"epoch of {epoch_s:.1f} s)"
            if epoch_s
            else ""
        )
    )
    ratio = sj / sb if sb and sj else None
    met = ratio is not None and ratio >= TARGET_RATIO
    print(
        f"target job/bare steady img/s >= {TARGET_RATIO}: {fmt(ratio, '.3f')} -> "
        f"{'MET' if met else 'MISSED'}"
    )
    return {
        "library": library,
        "bare": bare,
        "job": job,
        "steady_ips": {"bare": sb, "job": sj, "ratio": ratio},
        "all_ips": {"bare": ab, "job": aj, "ratio": aj / ab if ab and aj else None},
        "segments": {"bare": seg_b, "job": seg_j},
        "db_costs": db,
        "target_met": met,
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--_bare":
        bare_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", choices=["keras", "fastai", "both"], default="both")
    ap.add_argument("--size", type=int, default=64, help="image size (default 64)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20, help="max_batches per epoch (default 20)")
    ap.add_argument("--epochs1", type=int, default=1, help="phase 1 epochs (default 1)")
    ap.add_argument("--epochs", type=int, default=2, help="phase 2 epochs (default 2)")
    ap.add_argument("--dataset", choices=["isic", "demo"], default="isic")
    common.add_json_arg(ap)
    common.add_db_args(ap, "moocguide_trainbench")
    ap.add_argument(
        "--broker",
        default=DEFAULT_BROKER,
        help=f"Celery broker (default {DEFAULT_BROKER}; db 15 is shared with the tests)",
    )
    ap.add_argument("--job-timeout", type=float, default=300)
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.size, args.batch_size, args.batches = 32, 8, 2
        args.epochs1, args.epochs, args.dataset = 1, 1, "demo"
    libraries = ["keras", "fastai"] if args.library == "both" else [args.library]
    if args.broker.rstrip("/").endswith("/15"):
        print(
            "warning: Redis db 15 is the test suite's broker: if tests run now, their workers "
            "can take this bench's job (and this bench's worker theirs).",
            file=sys.stderr,
        )

    tmp = Path(tempfile.mkdtemp(prefix="train-bench-"))
    media = tmp / "media"
    media.mkdir()
    env = bench_env(args, media, [ISIC_ROOT.parent, tmp])
    os.environ.update(env)  # this process's Django uses the bench DB and broker too
    sys.path.insert(0, str(REPO))
    worker = None
    db_created = False
    exit_code = 0
    t_start = time.monotonic()
    try:
        db_created = True
        t0 = time.perf_counter()
        common.recreate_db(args, env)
        import django

        django.setup()
        import redis

        if not args.broker.rstrip("/").endswith("/15"):
            redis.Redis.from_url(args.broker).delete("gpu")  # stale bench messages only
        dataset = import_data(args, tmp)
        n_train = dataset.images.filter(split="train").count()
        n_valid = dataset.images.filter(split="valid").count()
        n_test = dataset.images.filter(split="test").count()
        print(
            f"database {args.db_name}: migrated, dataset {dataset.name} imported "
            f"({n_train} train / {n_valid} valid / {n_test} test, {len(dataset.classes)} "
            f"classes) in {time.perf_counter() - t0:.1f} s"
        )
        worker = Worker(env, tmp / "worker.log")
        ready_s = worker.wait_ready()
        print(f"celery worker (gpu queue, solo pool, {args.broker}) ready in {ready_s:.1f} s")
        print(
            common.machine_line(
                os.cpu_count(),
                note=" (other processes, e.g. tests, share the CPUs: numbers are noisy)",
            )
        )
        print(
            "bare = backend.train() with MemoryReporter in a fresh helper process (no DB, no "
            "Celery, no supervisor); job = launch -> Celery -> supervisor -> runner child.\n"
            "Both run the LR finder first (a job always does: JobSpec.from_job sets "
            "run_lr_finder=True); it is outside the epoch rows and shown in the wall times."
        )
        db = db_write_costs(dataset)
        results = []
        for library in libraries:
            print(f"  running {library}: bare ...", flush=True)
            bare = run_bare(args, library, dataset, env, tmp)
            print(f"  running {library}: job ...", flush=True)
            job = run_job(args, library, dataset, media)
            results.append(print_library(library, bare, job, db, args))
        print(f"\ntotal bench time {time.monotonic() - t_start:.0f} s")
        if args.json:
            payload = {
                "settings": {
                    k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                },
                "machine": {
                    "nproc": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_end": os.getloadavg(),
                },
                "dataset": {"train": n_train, "valid": n_valid, "test": n_test},
                "results": results,
            }
            common.write_json(args.json, payload, default=str)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        exit_code = 1
    finally:
        if worker is not None:
            worker.stop()
        common.drop_or_keep_db(args, db_created, close_django=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
