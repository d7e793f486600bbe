#!/usr/bin/env python3
"""The thesis grid (6 architectures x Keras and fastai) through the real job path, timed.

Each job goes experiments.jobs.actions.launch() -> a Celery worker subprocess on the gpu queue
running N jobs at once (--pool threads, as scripts/run.sh starts it) -> workers.supervisor -> one
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
import contextlib
import io
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tarfile
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
    ap.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="hard deadline for all phases (s): the worker's process group is killed then, "
        "its jobs recorded cancelled, and the figures so far reported",
    )
    ap.add_argument(
        "--alone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first ResNet50 in each library alone (the img/s target), then the packed grid",
    )
    ap.add_argument(
        "--alone-timeout", type=float, help="seconds for that phase (default 150; smoke: none)"
    )
    ap.add_argument("--logs", type=Path, help="tar the worker's and every job's log here")
    ap.add_argument("--pgid-file", type=Path, help="write the worker's process group id here")
    args = ap.parse_args()
    if args.smoke:
        args.size = args.size or 32
        args.batch_size = args.batch_size or 8
        args.lr_finder = False if args.lr_finder is None else args.lr_finder
        args.max_batches = args.max_batches or 2
        args.epochs = args.epochs or [1, 1]
        args.jobs_per_gpu = args.jobs_per_gpu or "2"
        args.alone_timeout = args.alone_timeout or args.timeout
        if args.archs == ARCHS:  # seconds, not minutes: fastai alone, then Keras "packed"
            args.archs = ["small-cnn"]
    args.size = args.size or 256
    args.alone_timeout = args.alone_timeout or 150
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


class Deadline(Exception):
    """The grid's --timeout passed, or this script got SIGTERM/SIGINT (the device call's own
    timeout): stop everything now and report what was measured."""


def _on_signal(signum, frame) -> None:
    raise Deadline(signal.Signals(signum).name)


def compile_caps(slots: int) -> dict[str, str]:
    """Threads per job, so N jobs compiling at once do not start N x cores compiler
    processes and N x cores OpenMP threads: this machine's cores shared among the jobs."""
    per_job = str(max(1, (os.cpu_count() or 1) // max(1, slots)))
    return {"TORCHINDUCTOR_COMPILE_THREADS": per_job, "JOB_THREADS": per_job}


def start_worker(env: dict, var: Path, slots: int, pgid_file: Path | None) -> subprocess.Popen:
    """The worker leads a process group of its own (its job children and their loader and
    compiler processes inherit it): one killpg ends them all, whatever they are doing."""
    log = (var / "worker.log").open("ab")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu",
         "--pool", "threads", "--concurrency", str(slots), "--prefetch-multiplier", "1",
         "-n", "bench-gpu@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
        cwd=var, env={**env, **compile_caps(slots)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    for path in filter(None, [var / "worker.pgid", pgid_file]):
        path.write_text(f"{worker.pid}\n")
    return worker


def kill_worker(worker: subprocess.Popen, grace: float) -> None:
    """SIGTERM and `grace` seconds (0: SIGKILL at once), then SIGKILL to the whole group."""
    if grace > 0 and worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=grace)
    # also when the worker itself is gone: a job child or a compiler may still be in the group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def tar_logs(var: Path, target: Path, per_file: int = 2 * 2**20) -> None:
    """The worker's log and every job's log in one tar.gz (the last `per_file` bytes of each:
    a device call brings back at most 16 MiB a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted([*var.glob("worker*.log"), *var.rglob("job.log")]):
            data = path.read_bytes()[-per_file:]
            info = tarfile.TarInfo(str(path.relative_to(var)))
            info.size, info.mtime = len(data), int(path.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    print(f"logs: {target} ({target.stat().st_size // 1024} KiB)", flush=True)


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
        # from torch's dynamo counters in the job (suppress_errors hides a failed compile)
        "compiled": job.manifest.get("compile_happened"),
        "compiled_frames": job.manifest.get("compiled_frames"),
        "gpu_peak_memory_mb": job.manifest.get("gpu_peak_memory_mb"),
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


def ips(value: float | None) -> str:
    """Images/s: a decimal below 10 (a CPU's smoke run), whole numbers above."""
    return fmt(value, ".1f" if value is not None and value < 10 else ".0f")


# --------------------------------------------------------------------------- main
CANCELLED_AT_DEADLINE = "Cancelled at the bench's deadline (--timeout); metrics so far are kept."


def run_jobs(
    specs: list[dict],
    slots: int,
    env: dict,
    var: Path,
    deadline: float,
    args,
    on_done=None,
    ids: list[int] | None = None,
) -> list:
    """Launch `specs` (in order) on one worker with `slots`, return the jobs; `ids` gets
    their ids as they are launched. At the deadline (or on SIGTERM) the worker's process group
    is killed at once and the unfinished jobs recorded cancelled, then Deadline is raised:
    the rows are in the database, the caller reports them."""
    from experiments.jobs.actions import launch
    from experiments.models import TrainingJob
    from workers.supervisor import mark_cancelled

    worker = start_worker(env, var, slots, args.pgid_file)
    started = time.monotonic()
    ids = [] if ids is None else ids
    try:
        for spec in specs:
            ids.append(launch(spec).pk)
        seen: set[int] = set()
        while len(seen) < len(ids):
            if time.monotonic() >= deadline:
                raise Deadline("time is up")
            for job in TrainingJob.objects.filter(pk__in=ids, status__in=TrainingJob.FINISHED):
                if job.pk not in seen:
                    seen.add(job.pk)
                    print(f"  {hms(time.monotonic() - started)} job {job.pk} {job.library} "
                          f"{job.architecture}: {job.status} ({len(seen)}/{len(ids)})",
                          flush=True)  # fmt: skip
                    if on_done:
                        on_done(job)
            if worker.poll() is not None and len(seen) < len(ids):
                raise SystemExit(f"the worker exited; see {var / 'worker.log'}")
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
        kill_worker(worker, grace=5)  # idle: a clean stop
    except Deadline as why:
        kill_worker(worker, grace=0)  # a job deep in a compile would not stop for SIGTERM
        unfinished = mark_cancelled(ids, CANCELLED_AT_DEADLINE)
        print(f"  {hms(time.monotonic() - started)}: deadline ({why}); worker group killed, "
              f"{unfinished} job(s) cancelled; reporting what they measured",
              flush=True)  # fmt: skip
        raise
    finally:
        if worker.poll() is None:
            kill_worker(worker, grace=0)
    return list(TrainingJob.objects.filter(pk__in=ids).order_by("pk"))


def report(phase: str, jobs: list, slots: int, wall: float, peak, args, train_images: int):
    """Print the table and summary of a phase; return its JSON part."""
    from experiments.models import TrainingJob

    figures = [job_figures(job, train_images, args.thesis_train_images) for job in jobs]
    print(f"\n== {phase}: {len(jobs)} job(s), {slots} at once, {hms(wall)} ==")
    header = (
        f"{'job':>4} {'library':7} {'arch':12} {'status':9} {'device':14} {'backend':10} "
        f"{'prec':10} {'compiled':8} {'img/s p1':>9} {'img/s p2':>9} {'peak MiB':>8} "
        f"{'wall':>8} {'thesis est.':>11}"
    )
    print(header)
    for f in figures:
        print(
            f"{f['id']:>4} {f['library']:7} {f['architecture']:12} {f['status']:9} "
            f"{f['device'][:14]:14} {f['keras_backend'] or '-':10} {f['precision'] or '-':10} "
            f"{'-' if f['compiled'] is None else str(f['compiled']).lower():8} "
            f"{ips(f['images_per_second_phase1']):>9} {ips(f['images_per_second_phase2']):>9} "
            f"{fmt(f['gpu_peak_memory_mb']):>8} "
            f"{hms(f['wall_seconds']):>8} {hms(f['thesis_estimate_seconds']):>11}"
        )
    for job in jobs:
        if job.status in (TrainingJob.FAILED, TrainingJob.CANCELLED):
            print(f"job {job.pk} {job.status}: {job.error[:600]}")
    # a job cut off by the deadline counts when both phases have a steady epoch (its start and
    # test overhead unknown); the estimate then says it is partial
    estimates = [
        f["thesis_estimate_seconds"]
        for f in figures
        if f["status"] == "succeeded" or (f["epoch_seconds_phase1"] and f["epoch_seconds_phase2"])
    ]
    grid_estimate = schedule(estimates, slots) if estimates else None
    r50 = next(
        (
            f["images_per_second_phase2"] or f["images_per_second_phase1"]
            for f in figures
            if f["library"] == "fastai" and f["architecture"] == "resnet50"
        ),
        None,
    )
    summary = {
        "phase": phase,
        "wall_seconds": wall,
        "jobs_at_once": slots,
        "gpu_memory_peak_mb": peak.peak,
        "full_thesis_grid_estimate_seconds": grid_estimate,
        "thesis_seconds": THESIS_SECONDS,
        "fastai_resnet50_images_per_second": r50,
        "jobs_estimated": len(estimates),
        "estimate_is_lower_bound": len(estimates) < len(figures),
        "jobs_unfinished": sum(1 for f in figures if f["status"] != "succeeded"),
        "smoke": args.smoke,
    }
    print(f"GPU memory peak (nvidia-smi) {fmt(peak.peak)} MiB")
    if phase == "packed":
        if summary["estimate_is_lower_bound"]:
            print(f"(only {len(estimates)} of {len(figures)} jobs measured: a lower bound)")
        print(
            f"full thesis grid (Table 4.1 epochs), extrapolated on {slots} slot(s): "
            f"{hms(grid_estimate)} vs the thesis's {hms(THESIS_SECONDS)} "
            f"(target <= {hms(TARGET_GRID_SECONDS)})"
        )
    if r50 is not None or phase == "alone":
        print(f"fastai ResNet50 steady img/s: {ips(r50)} (target >= {TARGET_FASTAI_R50:.0f}"
              f"{', read alone' if phase == 'alone' else ', packed'})")  # fmt: skip
    if args.smoke:
        print("(smoke: a CPU and capped epochs; the extrapolation says nothing about a GPU)")
    sys.stdout.flush()
    return {"summary": summary, "jobs": figures}


def main() -> int:
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    data = (args.data or ISIC).resolve()
    var = Path(tempfile.mkdtemp(prefix="gpu-grid-"))
    use_demo = not data.is_dir()
    if use_demo:
        data = var / "datasets" / "digits"
    env = environment(args, var, data)
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    os.chdir(var)
    payload: dict = {"phases": {}, "cache_comparison": []}
    try:
        return run_phases(args, env, var, data, use_demo, deadline, payload)
    except Deadline as why:
        print(f"stopped: {why}; the figures above are what was measured", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if args.json:
            write_json(args.json, payload)
        if args.logs:
            tar_logs(var, args.logs)


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def run_phases(args, env, var: Path, data: Path, use_demo: bool, deadline: float, payload):
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
    from experiments.models import Dataset
    from workers.heartbeat import job_slots

    dataset = Dataset.objects.get(name=dataset_name)
    train_images = dataset.split_counts().get("train", 0)
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
    cost = {"vgg19": 6, "vgg16": 5, "densenet169": 4, "resnet101": 4, "densenet121": 3}
    specs = [
        {"library": lib, "architecture": arch, **common}
        for lib in args.libraries
        for arch in args.archs
    ]
    specs.sort(key=lambda s: -cost.get(s["architecture"], 2) * sum(THESIS_EPOCHS[s["library"]]))
    print(
        f"grid: {len(specs)} jobs, {args.size} px, batch {args.batch_size}, epochs "
        f"{args.epochs[0]}+{args.epochs[1]}, max batches {args.max_batches or 'all'}; dataset "
        f"{dataset_name} ({train_images} train images); python {platform.python_version()}, "
        f"{os.cpu_count()} cores, deadline {args.timeout:.0f} s, run folder {var}",
        flush=True,
    )
    peak = MemoryPeak()
    peak.start()
    failed = False

    def phase(name: str, phase_specs: list[dict], slots: int, until: float) -> list:
        from experiments.models import TrainingJob

        nonlocal failed
        started, ids = time.monotonic(), []
        try:
            run_jobs(phase_specs, slots, env, var, until, args, on_done=job_line, ids=ids)
        except Deadline:
            if not (until < deadline and time.monotonic() < deadline):
                raise  # the grid's deadline or a signal, not this phase's own limit
        finally:
            # however it ended, the rows are in the database: report them
            jobs = list(TrainingJob.objects.filter(pk__in=ids).order_by("pk"))
            part = report(name, jobs, slots, time.monotonic() - started, peak, args, train_images)
            payload["phases"][name] = part
            if args.json:
                write_json(args.json, payload)
        failed = failed or any(j.status == "failed" for j in jobs)
        return jobs

    def job_line(job) -> None:
        f = job_figures(job, train_images, args.thesis_train_images)
        print(f"    img/s p1 {ips(f['images_per_second_phase1'])}, p2 "
              f"{ips(f['images_per_second_phase2'])}, compiled {f['compiled']}, peak "
              f"{fmt(f['gpu_peak_memory_mb'])} MiB", flush=True)  # fmt: skip

    # one at a time: the >= 2,500 img/s target is one job's rate, not a shared GPU's
    alone_arch = "resnet50" if "resnet50" in args.archs else args.archs[0]
    alone = [s for s in specs if s["architecture"] == alone_arch] if args.alone else []
    alone.sort(key=lambda s: s["library"] != "fastai")
    if alone_arch != "resnet50":  # a smoke run of another architecture: one job alone
        alone = alone[:1]
    if alone:
        until = min(deadline, time.monotonic() + args.alone_timeout)
        phase("alone", alone, 1, until)
    rest = [s for s in specs if s not in alone]
    if rest:
        plan = job_slots(args.jobs_per_gpu)  # reads the peaks the alone jobs just recorded
        print(f"\npacked: {plan.jobs} job(s) at once ({plan.basis.get('rule')}: {plan.basis})")
        phase("packed", rest, plan.jobs, deadline)
    peak.stop.set()
    if args.compare:
        payload["cache_comparison"] = compare_cache(args, dataset, env, var, deadline)
    return 1 if failed else 0


def compare_cache(args, dataset, env: dict, var: Path, deadline: float) -> list[dict]:
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
    jobs = run_jobs(specs, 1, env, var, deadline, args)
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
