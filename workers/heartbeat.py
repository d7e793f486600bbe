"""Workers report themselves (queues, GPU, current job) for the Workers page."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading

from django.db import close_old_connections
from django.db.models.functions import Now

logger = logging.getLogger(__name__)
INTERVAL_SECONDS = 10


def gpu_info() -> tuple[str, int | None]:
    """(name, memory MiB) of the first visible GPU, from nvidia-smi; ("", None) without one."""
    if not shutil.which("nvidia-smi"):
        return "", None
    try:
        out = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            .stdout.strip()
            .splitlines()
        )
    except (OSError, subprocess.SubprocessError):
        return "", None
    if not out:
        return "", None
    name, _, memory = out[0].partition(",")
    return name.strip(), int(float(memory)) if memory.strip() else None


def gpu_memory_mb(field: str = "free") -> int | None:
    """The first GPU's memory.<field> (free, used, total) in MiB from nvidia-smi; None
    without one."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu=memory.{field}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split()
        return int(float(out[0])) if out else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def measured_peaks_mb() -> dict[str, float]:
    """The largest GPU memory peak earlier jobs recorded, per "architecture@size" ({} when
    none has run on a GPU yet, or the database cannot be read)."""
    try:
        from experiments.models import TrainingJob

        rows = TrainingJob.objects.filter(manifest__has_key="gpu_peak_memory_mb").values_list(
            "architecture", "image_size", "manifest__gpu_peak_memory_mb"
        )
        peaks: dict[str, float] = {}
        for arch, size, peak in rows:
            key = f"{arch}@{size}"
            peaks[key] = max(peaks.get(key, 0), float(peak or 0))
        return peaks
    except Exception as exc:  # the CLI before migrate, a database down: plan without them
        logger.info("no measured job memory peaks: %s", exc)
        return {}


def job_slots(setting: str | None = None):
    """The plan for this host (workers.training.devices.plan_job_slots): GPU_JOBS_PER_WORKER
    (a number) or, with "auto" (the default), from free GPU memory, measured peaks, cores."""
    from workers.training.devices import plan_job_slots

    setting = (setting or os.environ.get("GPU_JOBS_PER_WORKER") or "auto").strip()
    if setting != "auto" and not setting.isdigit():
        logger.warning("GPU_JOBS_PER_WORKER=%r is not a number; using 1", setting)
        setting = "1"
    return plan_job_slots(
        gpu_memory_mb("free"),
        gpu_memory_mb("total"),
        os.cpu_count() or 1,
        measured_peaks_mb(),
        setting,
    )


def jobs_per_gpu(setting: str | None = None) -> int:
    """How many jobs a GPU worker runs at once (see job_slots); 1 without a GPU."""
    return job_slots(setting).jobs


def gpu_warning(queues: list[str], gpu: tuple[str, int | None], probe=None) -> str:
    """What a gpu-queue worker must say at start when its jobs would train on the CPU."""
    if "gpu" not in queues:
        return ""
    if not gpu[0]:
        return (
            "This worker takes the gpu queue but sees no GPU: its jobs will train on the CPU "
            "(check the NVIDIA driver, CUDA_VISIBLE_DEVICES and the container's GPU access)."
        )
    from workers.training.devices import installed, library_sees_gpu

    probe = probe or library_sees_gpu
    blind = [lib for lib in ("torch", "tensorflow") if installed(lib) and not probe(lib)]
    if "torch" in blind:
        return (
            "torch sees no GPU on this GPU host: fastai jobs will train on the CPU (install a "
            "CUDA build of torch)."
        )
    if "tensorflow" in blind:
        return (
            "TensorFlow sees no GPU here (its CUDA libraries are missing): Keras jobs on 'auto' "
            "use torch; install requirements-gpu.txt for TensorFlow on the GPU."
        )
    return ""


def beat(hostname: str, queues: list[str], gpu: tuple[str, int | None], **extra) -> None:
    """last_seen is the database's clock, not this machine's: the reaper and the Workers page
    compare it in database time, so a worker with a skewed clock looks neither dead nor alive
    wrongly."""
    from experiments.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "gpu_name": gpu[0],
            "gpu_memory_mb": gpu[1],
            "last_seen": Now(),
            **extra,
        },
    )


def set_current_job(hostname: str, job_id: int | None) -> None:
    """job_id None: this job ended; a worker running several shows another of its jobs."""
    from experiments.models import TrainingJob, WorkerHeartbeat

    if job_id is None:
        running = TrainingJob.objects.filter(worker_host=hostname, status=TrainingJob.RUNNING)
        job_id = running.order_by("started_at").values_list("pk", flat=True).first()
    WorkerHeartbeat.objects.filter(hostname=hostname).update(current_job_id=job_id, last_seen=Now())


def start(hostname: str, queues: list[str], slots: int = 1) -> threading.Event:
    """Beat every INTERVAL_SECONDS from a daemon thread until the returned event is set."""
    stop = threading.Event()
    gpu = gpu_info()
    state = {"warning": ""}
    # job children inherit it: they share this machine's cores among `slots` jobs
    os.environ["TRAINING_JOB_SLOTS"] = str(max(1, slots))
    basis: dict = {}
    if "gpu" in queues:
        plan = job_slots()
        if plan.jobs != slots:  # started with another --concurrency: share the memory by it
            plan = job_slots(str(max(1, slots)))
        basis = plan.basis
        if plan.memory_fraction:  # each job child caps its share (devices.cap_gpu_memory)
            os.environ["TRAINING_JOB_GPU_FRACTION"] = str(plan.memory_fraction)

    def loop() -> None:
        first = True
        while not stop.is_set():
            try:
                close_old_connections()
                # A worker just (re)started runs nothing yet: a job its previous process ran
                # is no longer its own (the reaper then says that worker died).
                fresh = {"current_job": None} if first else {}
                beat(
                    hostname,
                    queues,
                    gpu,
                    job_slots=slots,
                    job_slots_basis=basis,
                    warning=state["warning"],
                    **fresh,
                )
                if first:  # after the first beat: asking the libraries takes seconds
                    first = False
                    state["warning"] = gpu_warning(queues, gpu)
                    if state["warning"]:
                        logger.warning("worker %s: %s", hostname, state["warning"])
                        continue
            except Exception:
                logger.exception("worker heartbeat failed")
            stop.wait(INTERVAL_SECONDS)

    threading.Thread(target=loop, name="worker-heartbeat", daemon=True).start()
    return stop


if __name__ == "__main__":  # scripts/run.sh: `python -m workers.heartbeat --jobs-per-gpu`
    if sys.argv[1:] == ["--jobs-per-gpu"]:
        print(jobs_per_gpu())
    else:
        sys.exit("usage: python -m workers.heartbeat --jobs-per-gpu")
