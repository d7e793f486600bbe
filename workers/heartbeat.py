"""Workers report themselves (queues, GPU, current job) for the Workers page."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading

from django.db import close_old_connections
from django.utils import timezone

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


def beat(hostname: str, queues: list[str], gpu: tuple[str, int | None], **extra) -> None:
    from experiments.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "gpu_name": gpu[0],
            "gpu_memory_mb": gpu[1],
            "last_seen": timezone.now(),
            **extra,
        },
    )


def set_current_job(hostname: str, job_id: int | None) -> None:
    from experiments.models import WorkerHeartbeat

    WorkerHeartbeat.objects.filter(hostname=hostname).update(
        current_job_id=job_id, last_seen=timezone.now()
    )


def start(hostname: str, queues: list[str]) -> threading.Event:
    """Beat every INTERVAL_SECONDS from a daemon thread until the returned event is set."""
    stop = threading.Event()
    gpu = gpu_info()

    def loop() -> None:
        while not stop.is_set():
            try:
                close_old_connections()
                beat(hostname, queues, gpu)
            except Exception:
                logger.exception("worker heartbeat failed")
            stop.wait(INTERVAL_SECONDS)

    threading.Thread(target=loop, name="worker-heartbeat", daemon=True).start()
    return stop
