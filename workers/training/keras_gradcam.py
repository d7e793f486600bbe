"""Grad-CAM for a saved Keras model: the class score's gradient over the body's output.

The thesis model is a chain (input -> preprocess -> body -> head), so the layers are called in
order and the body's feature map is kept for the gradient. Imported only in an inference child
process, after KERAS_BACKEND is set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .keras_backend import load_keras


def _forward(model, x):
    """(body output, probabilities) by calling the top-level layers in order, inference mode."""
    features = None
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        x = layer(x, training=False)
        if layer.name == "body":
            features = x
    return features, x


def explain(model_path: Path, image_path: Path, image_size: int) -> tuple[list[float], np.ndarray]:
    keras = load_keras()
    from . import keras_parts as kp

    model = keras.saving.load_model(model_path, compile=False)
    x = kp.ImageBatches([Path(image_path)], image_size, 1, labelled=False)[0]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            features, probs = _forward(model, tf.constant(x))
            best = int(tf.argmax(probs[0]))
            score = probs[0, best]
        gradients = tape.gradient(score, features).numpy()
        features, probs = features.numpy(), probs.numpy()
    elif backend == "torch":
        import torch

        with torch.enable_grad():
            features, probs = _forward(model, torch.as_tensor(x))
            best = int(probs[0].argmax())
            (gradients,) = torch.autograd.grad(probs[0, best], features)
        gradients = gradients.detach().cpu().numpy()
        features, probs = features.detach().cpu().numpy(), probs.detach().cpu().numpy()
    else:  # pragma: no cover - jobs only use tensorflow or torch
        raise RuntimeError(f"Grad-CAM is not written for the {backend} Keras backend.")
    weights = gradients[0].mean(axis=(0, 1))  # channels last
    cam = np.maximum((features[0] * weights).sum(axis=-1), 0)
    return np.asarray(probs[0], dtype=np.float64).tolist(), cam
