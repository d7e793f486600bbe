"""After evaluation: keep every test image's prediction, and the validation split's too."""

from __future__ import annotations


def record_predictions(job, backend, spec, data, trained) -> None:
    """Store test predictions (already computed) and validation predictions of the final
    model (one more pass through the saved model, so the backends stay unchanged)."""
    from experiments.research.predictions import store_predictions as store
    from workers.dbretry import with_db_retry

    def store_predictions(job, split, *rest):  # one transaction; retried through an outage
        return with_db_retry(lambda: store(job, split, *rest), f"storing {split} predictions")

    root = data.root
    test_paths = [path for path, _ in data.test]
    store_predictions(
        job,
        "test",
        test_paths,
        [label for _, label in data.test],
        trained.test_probabilities,
        data.classes,
        root,
    )
    if data.valid:
        valid_paths = [path for path, _ in data.valid]
        probabilities = backend.load_and_predict(trained.model_path, valid_paths, spec.image_size)
        store_predictions(
            job,
            "valid",
            valid_paths,
            [label for _, label in data.valid],
            probabilities,
            data.classes,
            root,
        )
