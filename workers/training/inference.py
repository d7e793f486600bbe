"""Tries a finished run's model on one image, in a child process of a `predict` worker.

One long-lived child per library (`python -m workers.training.inference serve keras`): it imports
TensorFlow or torch once, keeps the last few models loaded, and answers prediction ids read from
stdin, so a request takes a fraction of a second once the child is warm. TensorFlow and torch
never share a process, and a crash or a hang fails only that request (the child is restarted).
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_SECONDS = 300  # the first request of a child also imports its library
CACHED_MODELS = 4


class ModelCache:
    """The last few loaded models of this child, by file path."""

    def __init__(self, load, size: int = CACHED_MODELS):
        self.load, self.size, self.models = load, size, OrderedDict()

    def get(self, path: Path):
        key = (str(path), path.stat().st_mtime)
        if key not in self.models:
            self.models[key] = self.load(path)
            while len(self.models) > self.size:
                self.models.popitem(last=False)
        self.models.move_to_end(key)
        return self.models[key]


def explainer(kind: str):
    """(load model, explain) of a library; imports it (call in the child only)."""
    if kind.startswith("keras"):
        from . import keras_gradcam as module
    else:
        from . import fastai_gradcam as module
    return module.load, module.explain


def run(prediction_id: int, cache: ModelCache, explain) -> int:
    """Answer one request: probabilities, predicted class and the Grad-CAM overlay."""
    import tempfile

    from experiments.models import ImagePrediction

    from .dataset_cache import local_copy, local_model, store_artifact
    from .heatmaps import write_overlay

    rows = ImagePrediction.objects.filter(pk=prediction_id)
    prediction = rows.select_related("job").first()
    if prediction is None:
        return 1
    job = prediction.job
    rows.update(status=ImagePrediction.RUNNING)
    started = time.monotonic()
    try:
        try:
            model_file = local_model(
                job.evaluation["model_file"], job.evaluation.get("model_sha256", "")
            )
            model = cache.get(model_file)
        except FileNotFoundError:
            raise RuntimeError(f"The model file of run #{job.pk} is missing.") from None
        with tempfile.TemporaryDirectory(prefix="predict-") as scratch:
            image_path = local_copy(prediction.image, Path(scratch))
            probabilities, cam = explain(model, image_path, job.image_size)
            classes = list(job.evaluation["classes"])
            heatmap = str(Path(prediction.image).with_name("heatmap.png"))
            overlay = write_overlay(image_path, cam, Path(scratch) / "heatmap.png")
            store_artifact(overlay, heatmap)
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        rows.update(
            status=ImagePrediction.SUCCEEDED,
            predicted=classes[best],
            probabilities=dict(zip(classes, (float(p) for p in probabilities), strict=True)),
            heatmap=heatmap,
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


def serve(kind: str) -> None:
    """The child's loop: one prediction id per stdin line, `done <id>` on stdout after each.
    `kind` is fastai, or keras:<backend> (a Keras backend is fixed once Keras is imported)."""
    if kind.startswith("keras:"):
        os.environ["KERAS_BACKEND"] = kind.split(":", 1)[1]
    import django

    django.setup()
    from django.db import close_old_connections

    load, explain = explainer(kind)
    if kind.startswith("keras"):  # import the library now, not on the first request
        from .keras_backend import load_keras

        load_keras()
    else:
        import fastai.learner  # noqa: F401
    cache = ModelCache(load)
    protocol = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not mix with the protocol
    for line in sys.stdin:
        close_old_connections()
        prediction_id = int(line)
        run(prediction_id, cache, explain)
        protocol.write(f"done {prediction_id}\n")
        protocol.flush()


# ------------------------------------------------------------------ in the worker process

_children: dict[str, subprocess.Popen] = {}


def _child(kind: str) -> subprocess.Popen:
    from ..supervisor import current_database_url
    from .storage import child_env, predict_log

    child = _children.get(kind)
    if child is not None and child.poll() is None:
        return child
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": current_database_url(),
        **child_env(),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    log = predict_log(kind)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "workers.training.inference", "serve", kind],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
        )
    _children[kind] = child
    return child


def keras_kind(requested: str, manifest: dict | None) -> str:
    """The child that loads a Keras job's model: the backend the job really trained on (its
    manifest), else the one it asked for, else what `auto` picks on this worker."""
    used = (manifest or {}).get("keras_backend")
    if used in ("tensorflow", "torch"):
        return f"keras:{used}"
    if requested in ("tensorflow", "torch"):
        return f"keras:{requested}"
    from .devices import DeviceError, resolve_keras_backend

    try:
        return f"keras:{resolve_keras_backend('auto').backend}"
    except DeviceError:  # no Keras backend here: the child says so when it starts
        return "keras:tensorflow"


def warm_up(kinds: tuple[str, ...] | None = None) -> None:
    """Start the children before the first request (they import their library at once)."""
    for kind in kinds or ("fastai", keras_kind("auto", None)):
        try:
            _child(kind)
        except OSError:  # started again on the first request
            logging.getLogger("workers.predict").exception("could not start %s child", kind)


def _stop(kind: str) -> None:
    child = _children.pop(kind, None)
    if child is not None and child.poll() is None:
        child.kill()
        child.wait(timeout=30)


def run_in_child(prediction_id: int) -> str:
    """Hand one request to the library's warm child and wait for it; record a failure (and
    restart the child next time) if it dies or takes too long."""
    from experiments.models import ImagePrediction

    job = (
        ImagePrediction.objects.filter(pk=prediction_id)
        .values_list("job__library", "job__keras_backend", "job__manifest")
        .first()
    )
    if job is None:
        return "missing"
    kind = "fastai" if job[0] == "fastai" else keras_kind(job[1], job[2])
    reason = ""
    try:
        child = _child(kind)
        child.stdin.write(f"{prediction_id}\n")
        child.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(child.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=left):
                reason = f"took longer than {REQUEST_TIMEOUT_SECONDS} s"
                break
            line = child.stdout.readline()
            if not line:
                reason = f"the prediction process exited (code {child.wait(timeout=30)})"
                break
            if line.strip() == f"done {prediction_id}":
                break
    except (OSError, ValueError) as exc:
        reason = f"the prediction process could not be used ({exc})"
    if reason:
        _stop(kind)
        unfinished = ImagePrediction.objects.filter(
            pk=prediction_id, status__in=[ImagePrediction.QUEUED, ImagePrediction.RUNNING]
        )
        unfinished.update(status=ImagePrediction.FAILED, error=f"Prediction failed: {reason}.")
    return ImagePrediction.objects.filter(pk=prediction_id).values_list("status", flat=True)[0]


def main() -> None:
    from .runner import _die_with_parent

    _die_with_parent()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    kinds = ("fastai", "keras:tensorflow", "keras:torch")
    if len(sys.argv) == 3 and sys.argv[1] == "serve" and sys.argv[2] in kinds:
        serve(sys.argv[2])
    else:
        sys.exit("usage: python -m workers.training.inference serve " + "|".join(kinds))


if __name__ == "__main__":
    main()
