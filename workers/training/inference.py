"""Tries a finished run's model on one image: `python -m workers.training.inference ID`.

Started by the `predict` queue's task (workers.tasks.predict_image) in a child process, like a
training job, so TensorFlow and torch never share a process and a crash fails only this
request. Writes the probabilities, the predicted class and a Grad-CAM overlay.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_SECONDS = 300


def run(prediction_id: int) -> int:
    import django

    django.setup()
    from django.conf import settings

    from experiments.models import ImagePrediction

    from .heatmaps import write_overlay

    rows = ImagePrediction.objects.filter(pk=prediction_id)
    prediction = rows.select_related("job").get()
    job = prediction.job
    rows.update(status=ImagePrediction.RUNNING)
    started = time.monotonic()
    media = Path(settings.MEDIA_ROOT)
    try:
        model_path = media / job.evaluation["model_file"]
        image_path = media / prediction.image
        if job.library == "keras":
            os.environ["KERAS_BACKEND"] = job.keras_backend or "tensorflow"
            from .keras_gradcam import explain
        else:
            from .fastai_gradcam import explain
        probabilities, cam = explain(model_path, image_path, job.image_size)
        classes = list(job.evaluation["classes"])
        heatmap = Path(prediction.image).with_name("heatmap.png")
        write_overlay(image_path, cam, media / heatmap)
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        rows.update(
            status=ImagePrediction.SUCCEEDED,
            predicted=classes[best],
            probabilities=dict(zip(classes, (float(p) for p in probabilities), strict=True)),
            heatmap=str(heatmap),
            seconds=time.monotonic() - started,
        )
        return 0
    except Exception as exc:
        logging.getLogger("workers.predict").exception("prediction %s failed", prediction_id)
        rows.update(
            status=ImagePrediction.FAILED,
            error=f"{exc.__class__.__name__}: {exc}\n\n{traceback.format_exc(limit=4)}"[:5000],
            seconds=time.monotonic() - started,
        )
        return 1


def run_in_child(prediction_id: int) -> str:
    """Run one prediction in a fresh process; record a failure if the process dies."""
    from django.conf import settings

    from experiments.models import ImagePrediction

    from ..supervisor import current_database_url

    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "workers.training.inference", str(prediction_id)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CHILD_TIMEOUT_SECONDS,
        )
        reason = f"exit code {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}"
    except subprocess.TimeoutExpired:
        reason = f"took longer than {CHILD_TIMEOUT_SECONDS} s"
    unfinished = ImagePrediction.objects.filter(
        pk=prediction_id, status__in=[ImagePrediction.QUEUED, ImagePrediction.RUNNING]
    )
    error = f"The prediction process failed: {reason}"
    if unfinished.update(status=ImagePrediction.FAILED, error=error):
        return "failed"
    return ImagePrediction.objects.filter(pk=prediction_id).values_list("status", flat=True).first()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(run(int(sys.argv[1])))


if __name__ == "__main__":
    main()
