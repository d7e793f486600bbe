"""Runs one training job in this process: `python -m workers.training.runner JOB_ID`.

Started by the supervisor (workers.supervisor) for every job, so TensorFlow and torch never
share a process, memory (GPU included) is returned when it exits, and a crash or an
out-of-memory kill fails that job only.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

STOP = {"requested": False}


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the supervising process dies, so no job outlives its worker."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux
        pass


def _on_sigterm(signum, frame) -> None:
    STOP["requested"] = True


def code_revision() -> str:
    if os.environ.get("APP_REVISION"):
        return os.environ["APP_REVISION"]
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def library_versions(library: str, keras_backend: str) -> dict[str, str]:
    names = ["numpy", "pillow"]
    names += ["keras", keras_backend] if library == "keras" else ["fastai", "torch", "torchvision"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run(job_id: int) -> int:
    import django

    django.setup()
    from django.db.models.functions import Now
    from django.utils import timezone

    from experiments.models import TrainingJob
    from workers.dbretry import with_db_retry

    from .failures import describe
    from .reporting import Cancelled

    job = with_db_retry(
        lambda: TrainingJob.objects.select_related("dataset").get(pk=job_id), "loading the job"
    )
    log = logging.getLogger("workers.job")

    def finish(status: str, error: str = "", **fields) -> None:
        # Only a running job is finished here: a reaped or cancelled row stays as it is.
        # A short database outage is ridden out rather than losing the result.
        with_db_retry(
            lambda: TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.RUNNING).update(
                status=status,
                error=error[:5000],
                finished_at=timezone.now(),
                heartbeat_at=Now(),  # database time, like the reaper compares
                **fields,
            ),
            "recording the job's result",
        )

    if job.dataset is None:
        finish(TrainingJob.FAILED, f"Dataset {job.dataset_name!r} no longer exists.")
        return 1
    try:
        evaluation = train_and_evaluate(job, log)
    except Cancelled:
        finish(TrainingJob.CANCELLED, "Cancelled while running; metrics so far are kept.")
        log.info("job %s: cancelled", job.pk)
        return 0
    except Exception as exc:  # every failure, imports and devices included, ends the job here
        failure = describe(exc)
        finish(TrainingJob.FAILED, f"{failure.reason}\n\n{failure.detail}")
        log.error("job %s failed: %s\n%s", job.pk, failure.reason, failure.detail)
        return 1
    finish(TrainingJob.SUCCEEDED, evaluation=evaluation, eta_seconds=0)
    log.info("job %s: succeeded, test accuracy %.4f", job.pk, evaluation["accuracy"])
    return 0


def effective_spec(spec, device: str):
    """The job's settings as they apply on `device`: GPU-only speed features off on a CPU,
    `auto` precision resolved."""
    from .devices import resolve_precision

    on_gpu = device != "cpu"
    return replace(
        spec,
        precision=resolve_precision(spec.precision, on_gpu),
        channels_last=spec.channels_last and on_gpu,
        compile=spec.compile and on_gpu,
    )


def train_and_evaluate(job, log) -> dict:
    """Resolve the backend and device, record the manifest, train, evaluate."""
    from experiments.jobs.presets import ONE_CYCLE_MOMENTA
    from experiments.models import TrainingJob
    from workers.dbretry import with_db_retry, with_store_retry

    from .base import KNOWN_DIFFERENCES, get_backend, seed_everything
    from .dataset_cache import dataset_folder, job_dataset_folder
    from .devices import cap_gpu_memory, cpu_fallback_warning, resolve_keras_backend
    from .spec import JobSpec, SplitData
    from .storage import compile_cache_dir, job_folder

    spec = JobSpec.from_job(job)
    reason = ""
    if spec.library == "keras":
        choice = resolve_keras_backend(spec.keras_backend)
        os.environ["KERAS_BACKEND"] = choice.backend
        spec, reason = replace(spec, keras_backend=choice.backend), choice.reason
    backend = get_backend(spec.library)
    backend.check_weights(spec)
    workdir = job_folder(job)  # the supervisor created it fresh for this job
    workdir.mkdir(parents=True, exist_ok=True)
    device = backend.device_name()
    spec = effective_spec(spec, device)
    uses_torch = spec.library == "fastai" or spec.keras_backend == "torch"
    if device != "cpu" and uses_torch:  # its share of the GPU beside the worker's other jobs
        cap_gpu_memory()
    if spec.compile:  # compiled graphs are reused by the next jobs of the same shape
        cache = compile_cache_dir()
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache / "inductor"))
        os.environ.setdefault("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={cache}/xla")
        if uses_torch:
            # A graph torch.compile cannot handle runs eager (torch logs why): compiling is
            # a speed setting, and a job must not fail for it.
            import torch._dynamo

            from .step_counters import keep_every_compile_record

            torch._dynamo.config.suppress_errors = True
            keep_every_compile_record()  # the manifest's recompiles miss none
    manifest = {
        "libraries": library_versions(spec.library, spec.keras_backend),
        "seed": spec.seed,
        "dataset": job.dataset.name,
        "dataset_manifest_hash": job.dataset.manifest_hash,
        "code_revision": code_revision(),
        "device": device,
        "host": platform.node(),
        "keras_backend": spec.keras_backend if spec.library == "keras" else "",
        "keras_backend_reason": reason,
        "settings": spec.as_dict(),
        "one_cycle_momenta": list(ONE_CYCLE_MOMENTA) if spec.one_cycle else None,
        "known_differences": list(KNOWN_DIFFERENCES),
    }
    with_db_retry(
        lambda: TrainingJob.objects.filter(pk=job.pk).update(device=device, manifest=manifest),
        "recording the job's manifest",
    )
    warning = cpu_fallback_warning(device)
    if warning:
        log.warning("job %s: %s", job.pk, warning)
    if reason:
        log.info("job %s: Keras backend %s (%s)", job.pk, spec.keras_backend, reason)
    seed_everything(spec.seed)
    # Its images, fetched from the datasets storage into this worker's cache if need be.
    images = with_store_retry(
        lambda: dataset_folder(job.dataset, job_dataset_folder(job)), "fetching the dataset"
    )
    try:
        return _train(job, backend, spec, SplitData.from_dataset(job.dataset, images), workdir)
    finally:
        shutil.rmtree(images, ignore_errors=True)


def _train(job, backend, spec, data, workdir) -> dict:
    from experiments.models import TrainingJob
    from experiments.storage import sha256_file
    from workers.dbretry import with_db_retry, with_store_retry

    from .db_reporter import DbReporter
    from .devices import torch_job_figures
    from .evaluation import evaluate
    from .predictions import record_predictions
    from .step_counters import compile_counters
    from .storage import artifact_key, store_outputs

    uses_torch = spec.library == "fastai" or spec.keras_backend == "torch"
    reporter = DbReporter(job, stop_signal=lambda: STOP["requested"])
    try:
        trained = backend.train(spec, data, reporter, workdir)
    finally:  # a cancelled job's figures count too
        # the memory peak (what the worker's jobs-per-GPU plan reads back), whether a step was
        # really compiled and its graph counters, merged into the manifest as it is now
        figures = torch_job_figures(spec.compile) if uses_torch else {}
        figures["step_counters"] = compile_counters(spec.compile)

        def merge_figures() -> None:
            rows = TrainingJob.objects.filter(pk=job.pk)
            current = rows.values_list("manifest", flat=True).get()
            rows.update(manifest={**(current or {}), **figures})

        # The last epochs may end while the database restarts: wait it out, as the reporter does.
        with_db_retry(merge_figures, "recording the job's figures")
    reporter.flush(block=True)  # metrics buffered during a database outage
    evaluation = evaluate(
        trained.test_probabilities,
        [label for _, label in data.test],
        data.classes,
        [path for path, _ in data.test],
        root=data.root,
    )
    evaluation["model_file"] = artifact_key(job, trained.model_path)
    evaluation["model_sha256"] = sha256_file(trained.model_path)  # predict workers' cache key
    record_predictions(job, backend, spec, data, trained)
    # Stored before the job is recorded as succeeded: a finished run always has its model.
    with_store_retry(lambda: store_outputs(job), "storing the model")
    return evaluation


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C in `manage.py train` reaches this process too: stop cleanly, as a cancel.
    signal.signal(signal.SIGINT, _on_sigterm)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
        force=True,
    )
    # TF_CPP_MIN_LOG_LEVEL is left alone: TensorFlow's "no CUDA found" lines must be seen.
    sys.exit(run(int(sys.argv[1])))


if __name__ == "__main__":
    main()
