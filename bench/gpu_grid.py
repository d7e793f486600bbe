#!/usr/bin/env python3
"""The thesis grid (6 architectures x Keras and fastai) through the real job path, timed.

Each job goes experiments.jobs.launch() -> a Celery worker subprocess on the gpu queue running
N jobs at once (--pool threads, as scripts/run.sh starts it) -> workers.supervisor -> one
`python -m workers.training.runner JOB_ID` child per job -> the backend -> EpochMetric rows.
Random initialisation (no machine here reaches the weights' hosts; speed is the same), few
epochs. From the rows it reports steady images/s per job (training pass only, first epoch of
each phase left out), the GPU memory peak (nvidia-smi), and extrapolates the full thesis grid
(Table 4.1 epochs, longest jobs first on N slots) next to the thesis's 12 h 56 min.

    .venv/bin/python bench/gpu_grid.py                 # on a GPU host: ISIC, 256 px, batch 32
    .venv/bin/python bench/gpu_grid.py --smoke         # tiny, on the CPU, a few minutes
    .venv/bin/python bench/gpu_grid.py --smoke --compare   # + decode-once vs decode per epoch

Self-contained: SQLite and the filesystem Celery broker in a temporary folder (no Postgres or
Redis needed; --database-url to use one). A benchmark, not a test: exit 0 whether or not the
targets are met, 1 when the setup or a job fails. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THESIS_SECONDS = 12 * 3600 + 56 * 60  # the thesis grid on a GTX 1070
THESIS_EPOCHS = {"keras": (50, 100), "fastai": (15, 40)}
ARCHS = ["vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169"]
ISIC = REPO.parent / "shared" / "data" / "skin-cancer-isic-180"
TARGET_GRID_SECONDS = 20 * 60
TARGET_FASTAI_R50 = 2500.0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny run on the CPU (minutes)")
    ap.add_argument("--compare", action="store_true", help="CPU: decode-once vs per epoch")
    ap.add_argument("--data", type=Path, help="ImageFolder/Kaggle dataset (default: ISIC)")
    ap.add_argument("--size", type=int, help="image size (default 256; smoke 64)")
    ap.add_argument("--batch-size", type=int, help="default 32; smoke 8")
    ap.add_argument("--epochs", type=int, nargs=2, metavar=("P1", "P2"), help="default 2 2")
    ap.add_argument("--max-batches", type=int, help="cap batches per epoch (smoke: 2)")
    ap.add_argument("--jobs-per-gpu", default=None, help="jobs at once (default: auto)")
    ap.add_argument("--archs", nargs="+", default=ARCHS)
    ap.add_argument("--libraries", nargs="+", default=["keras", "fastai"])
    ap.add_argument("--keras-backend", default="auto")
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compiled training steps (the job setting; GPU only)",
    )
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16-mixed", "fp32"])
    ap.add_argument(
        "--lr-finder",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each job's LR finder (default: on; off with --smoke)",
    )
    ap.add_argument("--database-url", help="default: SQLite in the run folder")
    ap.add_argument("--json", type=Path, help="write the results as JSON too")
    ap.add_argument(
        "--thesis-train-images",
        type=int,
        default=1515,
        help="training images per epoch the extrapolation assumes (ISIC thesis split)",
    )
    ap.add_argument(
        "--demo-per-class", type=int, default=150, help="without ISIC: digits per class"
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds for the whole grid")
    args = ap.parse_args()
    if args.smoke:
        args.size = args.size or 32
        args.batch_size = args.batch_size or 8
        args.lr_finder = False if args.lr_finder is None else args.lr_finder
        args.max_batches = args.max_batches or 2
        args.epochs = args.epochs or [1, 1]
        args.jobs_per_gpu = args.jobs_per_gpu or "2"
    args.size = args.size or 256
    args.batch_size = args.batch_size or 32
    args.epochs = args.epochs or [2, 2]
    args.lr_finder = True if args.lr_finder is None else args.lr_finder
    return args


# --------------------------------------------------------------------------- environment
def environment(args: argparse.Namespace, var: Path, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "APP_VAR_DIR": str(var),
        "MEDIA_ROOT": str(var / "media"),
        # several job processes write at once: WAL, immediate transactions, a long timeout
        "DATABASE_URL": args.database_url
        or f"sqlite:///{var / 'db.sqlite3'}?timeout=60&transaction_mode=IMMEDIATE"
        "&init_command=PRAGMA%20journal_mode%3DWAL",
        "CELERY_BROKER_URL": "filesystem://",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "DATA_ROOTS": f"{data.parent}:{var / 'datasets'}",
        "PYTHONUNBUFFERED": "1",
        # no system checks at worker start either: they import the web half (see manage())
        "CELERY_SKIP_CHECKS": "1",
        # run from the run folder (kombu's filesystem transport writes ./control there)
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if args.jobs_per_gpu:
        env["GPU_JOBS_PER_WORKER"] = str(args.jobs_per_gpu)
    return env


def manage(env: dict, *cmd: str) -> str:
    # --skip-checks: the system checks import the web half's URLs and views (plotly,
    # icalendar...), which a worker-only GPU host lacks; the job path never needs them.
    out = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *cmd, "--skip-checks"],
        cwd=env["APP_VAR_DIR"],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        raise SystemExit(f"manage.py {cmd[0]} failed")
    return out.stdout


def gpu_memory_used_mb() -> int | None:
    from workers.heartbeat import gpu_memory_mb

    return gpu_memory_mb("used")


class MemoryPeak(threading.Thread):
    """Samples the GPU's used memory every second; `peak` in MiB (None without a GPU)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            used = gpu_memory_used_mb()
            if used is not None:
                self.peak = max(self.peak or 0, used)
            self.stop.wait(1.0)


def start_worker(env: dict, var: Path, slots: int) -> subprocess.Popen:
    log = (var / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu",
         "--pool", "threads", "--concurrency", str(slots), "--prefetch-multiplier", "1",
         "-n", "bench-gpu@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
        cwd=var, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


# --------------------------------------------------------------------------- analysis
def steady(values: list[float]) -> float | None:
    """Mean without the first (warm-up/compile) value when there are more."""
    values = [v for v in values if v]
    if not values:
        return None
    rest = values[1:] if len(values) > 1 else values
    return sum(rest) / len(rest)


def job_figures(job, train_images: int, thesis_images: int) -> dict:
    """Per job: steady img/s and epoch seconds per phase, and its full-thesis estimate."""
    rows = list(job.metrics.order_by("phase", "epoch"))
    out = {
        "id": job.pk,
        "library": job.library,
        "architecture": job.architecture,
        "status": job.status,
        "device": job.device,
        "keras_backend": job.manifest.get("keras_backend", ""),
        "precision": job.manifest.get("settings", {}).get("precision"),
        "wall_seconds": (job.finished_at - job.started_at).total_seconds()
        if job.finished_at and job.started_at
        else None,
    }
    batches_here = math.ceil(train_images / job.batch_size)
    batches_run = min(batches_here, job.max_batches or batches_here)
    # per-batch time x the thesis split's batches (capped epochs, or a smaller dataset)
    scale = math.ceil(thesis_images / job.batch_size) / batches_run
    estimate, epoch_total = 0.0, 0.0
    for phase in (1, 2):
        phase_rows = [r for r in rows if r.phase == phase]
        epoch_total += sum(r.seconds for r in phase_rows)
        ips = steady([r.images_per_second for r in phase_rows])
        seconds = steady([r.seconds for r in phase_rows])
        # what the phase's first epoch took beyond a steady one (compiling, cuDNN autotuning,
        # warm-up) is paid once per phase, at the thesis's scale too
        once = max(phase_rows[0].seconds - seconds, 0.0) if len(phase_rows) > 1 else 0.0
        out[f"images_per_second_phase{phase}"] = ips
        out[f"epoch_seconds_phase{phase}"] = seconds
        out[f"first_epoch_extra_seconds_phase{phase}"] = once
        if seconds:
            estimate += THESIS_EPOCHS[job.library][phase - 1] * seconds * scale + once
    overhead = (out["wall_seconds"] or 0) - epoch_total  # start, LR finder, test, export
    out["overhead_seconds"] = overhead
    out["thesis_estimate_seconds"] = estimate + max(overhead, 0)
    return out


def schedule(durations: list[float], slots: int) -> float:
    """Wall time of jobs run longest first on `slots` parallel slots (greedy list schedule)."""
    ends = [0.0] * max(1, slots)
    for duration in sorted(durations, reverse=True):
        i = ends.index(min(ends))
        ends[i] += duration
    return max(ends)


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


# --------------------------------------------------------------------------- main
def run_jobs(specs: list[dict], slots: int, env: dict, var: Path, timeout: float) -> list:
    """Launch `specs` (longest first), run them on one worker with `slots`, return the jobs.
    At `timeout` the jobs still running are left as they are: what they measured so far is
    reported (one device call must bring back figures, not a traceback)."""
    from experiments.jobs import launch
    from experiments.models import TrainingJob

    worker = start_worker(env, var, slots)
    started = time.monotonic()
    try:
        jobs = [launch(spec) for spec in specs]
        ids, seen = [j.pk for j in jobs], set()
        while time.monotonic() - started < timeout:
            for job in TrainingJob.objects.filter(pk__in=ids, status__in=TrainingJob.FINISHED):
                if job.pk not in seen:
                    seen.add(job.pk)
                    print(
                        f"  {hms(time.monotonic() - started)} job {job.pk} {job.library} "
                        f"{job.architecture}: {job.status} ({len(seen)}/{len(ids)})",
                        flush=True,
                    )
            if len(seen) == len(ids):
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited; see {var / 'worker.log'}")
            time.sleep(2)
        else:
            print(f"  {hms(timeout)}: timeout, {len(ids) - len(seen)} job(s) unfinished; "
                  "reporting what they measured so far", flush=True)  # fmt: skip
        return [TrainingJob.objects.get(pk=pk) for pk in ids]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def main() -> int:
    args = parse_args()
    data = (args.data or ISIC).resolve()
    var = Path(tempfile.mkdtemp(prefix="gpu-grid-"))
    use_demo = not data.is_dir()
    if use_demo:
        data = var / "datasets" / "digits"
    env = environment(args, var, data)
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    os.chdir(var)
    manage(env, "migrate", "--no-input", "-v", "0")
    if use_demo:
        manage(env, "make_demo_dataset", "--per-class", str(args.demo_per_class))
        dataset_name = "demo"
    else:
        # the thesis split (dedupe, 1,515 / 378 / 99), also for a carried copy of ISIC
        preset = ["--preset", "isic-thesis"] if data.name == ISIC.name else []
        manage(env, "import_dataset", str(data), "--name", "grid", *preset, "--no-progress")
        dataset_name = "grid"

    import django

    django.setup()
    from experiments.models import Dataset, TrainingJob
    from workers.heartbeat import jobs_per_gpu

    dataset = Dataset.objects.get(name=dataset_name)
    train_images = dataset.split_counts().get("train", 0)
    slots = jobs_per_gpu(args.jobs_per_gpu)
    common = {
        "dataset": dataset,
        "image_size": args.size,
        "batch_size": args.batch_size,
        "epochs1": args.epochs[0],
        "epochs2": args.epochs[1],
        "max_batches": args.max_batches,
        "pretrained": False,
        "keras_backend": args.keras_backend,
        "run_lr_finder": args.lr_finder,
        "compile": args.compile,
        "precision": args.precision,
    }
    # longest first: VGG19/DenseNet169 Keras jobs (most epochs, most work) lead
    cost = {
        "vgg19": 6,
        "vgg16": 5,
        "densenet169": 4,
        "resnet101": 4,
        "densenet121": 3,
        "resnet50": 2,
    }
    specs = [
        {"library": lib, "architecture": arch, **common}
        for lib in args.libraries
        for arch in args.archs
    ]
    specs.sort(key=lambda s: -cost.get(s["architecture"], 1) * sum(THESIS_EPOCHS[s["library"]]))
    print(
        f"grid: {len(specs)} jobs, {args.size} px, batch {args.batch_size}, epochs "
        f"{args.epochs[0]}+{args.epochs[1]}, max batches {args.max_batches or 'all'}, "
        f"{slots} job(s) at once; dataset {dataset_name} ({train_images} train images); "
        f"python {platform.python_version()}, run folder {var}",
        flush=True,
    )
    peak = MemoryPeak()
    peak.start()
    started = time.monotonic()
    jobs = run_jobs(specs, slots, env, var, args.timeout)
    grid_wall = time.monotonic() - started
    peak.stop.set()

    figures = [job_figures(job, train_images, args.thesis_train_images) for job in jobs]
    print()
    header = (
        f"{'job':>4} {'library':7} {'arch':12} {'status':9} {'device':18} {'backend':10} "
        f"{'prec':10} {'img/s p1':>9} {'img/s p2':>9} {'wall':>8} {'thesis est.':>11}"
    )
    print(header)
    for f in figures:
        print(
            f"{f['id']:>4} {f['library']:7} {f['architecture']:12} {f['status']:9} "
            f"{f['device'][:18]:18} {f['keras_backend'] or '-':10} {f['precision'] or '-':10} "
            f"{fmt(f['images_per_second_phase1']):>9} {fmt(f['images_per_second_phase2']):>9} "
            f"{hms(f['wall_seconds']):>8} {hms(f['thesis_estimate_seconds']):>11}"
        )
    failed = [f for f in figures if f["status"] != "succeeded"]
    for job in jobs:
        if job.status in TrainingJob.FINISHED and job.status != "succeeded":
            print(f"job {job.pk} {job.status}: {job.error[:600]}")
    # a job cut off by --timeout counts when both phases have a steady epoch (its start and
    # test overhead unknown); the estimate then says it is partial
    estimates = [
        f["thesis_estimate_seconds"]
        for f in figures
        if f["status"] == "succeeded" or (f["epoch_seconds_phase1"] and f["epoch_seconds_phase2"])
    ]
    # the jobs without a steady figure left out, the schedule is a lower bound
    grid_estimate = schedule(estimates, slots) if estimates else None
    lower_bound = len(estimates) < len(figures)
    r50 = next(
        (
            f["images_per_second_phase2"]
            for f in figures
            if f["library"] == "fastai" and f["architecture"] == "resnet50"
        ),
        None,
    )
    summary = {
        "grid_wall_seconds": grid_wall,
        "jobs_at_once": slots,
        "gpu_memory_peak_mb": peak.peak,
        "full_thesis_grid_estimate_seconds": grid_estimate,
        "thesis_seconds": THESIS_SECONDS,
        "fastai_resnet50_images_per_second": r50,
        "jobs_estimated": len(estimates),
        "estimate_is_lower_bound": lower_bound,
        "jobs_unfinished": sum(1 for j in jobs if j.status not in TrainingJob.FINISHED),
        "smoke": args.smoke,
    }
    print()
    print(f"this run: {hms(grid_wall)} for {len(jobs)} jobs, {slots} at once; "
          f"GPU memory peak {fmt(peak.peak)} MiB")  # fmt: skip
    if lower_bound:
        print(f"(only {len(estimates)} of {len(figures)} jobs measured: a lower bound)")
    print(
        f"full thesis grid (Table 4.1 epochs), extrapolated: {hms(grid_estimate)} "
        f"vs the thesis's {hms(THESIS_SECONDS)} (target <= {hms(TARGET_GRID_SECONDS)})"
    )
    print(f"fastai ResNet50 steady img/s (phase 2): {fmt(r50)} (target >= {TARGET_FASTAI_R50:.0f})")
    if args.smoke:
        print("(smoke: a CPU and capped epochs; the extrapolation says nothing about a GPU)")

    comparison = compare_cache(args, dataset, env, var) if args.compare else []
    payload = {"summary": summary, "jobs": figures, "cache_comparison": comparison}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 1 if failed else 0


def compare_cache(args, dataset, env: dict, var: Path) -> list[dict]:
    """Per library, the same small job with the decode-once cache and with decoding every
    epoch (today's pipeline before issue 7), one job at a time: steady training img/s."""
    rows = []
    base = {
        "dataset": dataset,
        "architecture": "small-cnn",
        "image_size": args.size,
        "batch_size": args.batch_size,
        "epochs1": 1,
        "epochs2": 3,
        "max_batches": max(8, args.max_batches or 8),
        "pretrained": False,
        "run_lr_finder": False,
        "keras_backend": args.keras_backend,
    }
    # A B B A per library: a machine whose load drifts favours neither order
    specs = [
        {**base, "library": lib, "decode_cache": cache}
        for lib in args.libraries
        for cache in (True, False, False, True)
    ]
    jobs = run_jobs(specs, 1, env, var, args.timeout)
    rows.append(pipeline_only(dataset, args.size, args.batch_size))
    print()
    print(f"{'library':7} {'decode':14} {'steady img/s (train pass, phase 2)':>36}")
    for job in jobs:
        ips = steady([m.images_per_second for m in job.metrics.filter(phase=2)])
        mode = "once (cache)" if job.decode_cache else "every epoch"
        rows.append(
            {
                "library": job.library,
                "decode_cache": job.decode_cache,
                "images_per_second": ips,
                "status": job.status,
            }
        )
        print(f"{job.library:7} {mode:14} {fmt(ips, '.1f'):>36}")
    return rows


def pipeline_only(dataset, size: int, batch_size: int, count: int = 256) -> dict:
    """The input side alone, one core, no model: an epoch's batches decoded from the files
    (every epoch before the cache) vs sliced from the decode-once uint8 array."""
    import numpy as np

    from workers.training.image_cache import decode_all

    root = Path(dataset.root)
    rows = dataset.images.filter(split="train").order_by("path").values_list("path", flat=True)
    paths = [root / p for p in rows[:count]]
    started = time.perf_counter()
    cache = decode_all(paths, size, threads=1)
    decode = len(paths) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(5):
        for i in range(0, len(cache), batch_size):
            cache[i : i + batch_size].astype(np.float32)
    cached = 5 * len(paths) / (time.perf_counter() - started)
    print(
        f"input pipeline alone, one core, {len(paths)} images at {size} px: decode + resize "
        f"{decode:.0f} img/s; from the uint8 cache {cached:.0f} img/s ({cached / decode:.0f}x)"
    )
    return {"pipeline_decode_images_per_second": decode, "pipeline_cache_images_per_second": cached}


if __name__ == "__main__":
    sys.exit(main())
