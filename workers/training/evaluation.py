"""Test-set evaluation shared by both libraries."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def evaluate(
    probabilities: list[list[float]] | np.ndarray,
    labels: list[int],
    classes: list[str],
    paths: list[Path | str],
    top_losses: int = 9,
    root: Path | None = None,
) -> dict:
    """Accuracy, per-class precision/recall/F1, confusion matrix, most-confused pairs and the
    images with the highest loss. Plain JSON-ready types."""
    probs = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    n = len(classes)
    if probs.ndim != 2 or probs.shape != (len(y), n):
        raise ValueError(f"probabilities shape {probs.shape} does not match {len(y)}x{n}")
    pred = probs.argmax(axis=1) if len(y) else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y, pred, strict=False):
        confusion[t, p] += 1

    per_class = []
    for i, name in enumerate(classes):
        tp = int(confusion[i, i])
        predicted = int(confusion[:, i].sum())
        actual = int(confusion[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {"class": name, "precision": precision, "recall": recall, "f1": f1, "support": actual}
        )

    confused = [
        {"actual": classes[i], "predicted": classes[j], "count": int(confusion[i, j])}
        for i in range(n)
        for j in range(n)
        if i != j and confusion[i, j] > 0
    ]
    confused.sort(key=lambda item: (-item["count"], item["actual"], item["predicted"]))

    eps = 1e-12
    losses = [-math.log(max(float(probs[k, y[k]]), eps)) for k in range(len(y))]
    order = sorted(range(len(y)), key=lambda k: -losses[k])[:top_losses]
    worst = [
        {
            "path": str(Path(paths[k]).relative_to(root)) if root else str(paths[k]),
            "actual": classes[int(y[k])],
            "predicted": classes[int(pred[k])],
            "loss": losses[k],
            "probability": float(probs[k, pred[k]]),
        }
        for k in order
    ]
    accuracy = float((pred == y).mean()) if len(y) else 0.0
    return {
        "accuracy": accuracy,
        "test_loss": float(np.mean(losses)) if losses else None,
        "classes": classes,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "most_confused": confused[:10],
        "top_losses": worst,
        "n_test": int(len(y)),
    }
