"""The one channel from a training loop to the outside: metrics, progress, cancellation.

Backends call a Reporter from their library's callback (Keras `Callback.on_epoch_end`, fastai
`Callback.after_epoch`); they never touch the database themselves.
"""

from __future__ import annotations

from typing import Protocol


class Cancelled(Exception):
    """Raised (or honoured) by a backend when `reporter.should_stop()` turned true."""


class Reporter(Protocol):
    def phase_started(self, phase: int, epochs: int, batches_per_epoch: int) -> None: ...

    def batch_done(self) -> None:
        """Called after every training batch; cheap. Lets the job notice a cancel quickly."""

    def epoch_done(
        self,
        phase: int,
        epoch: int,
        *,
        train_loss: float | None,
        valid_loss: float | None,
        valid_accuracy: float | None,
        learning_rate: float | None,
        seconds: float,
        images: int,
        train_seconds: float | None = None,
    ) -> None:
        """`seconds`: the whole epoch; `train_seconds`: its training pass, which images/s
        is measured on (validation excluded)."""

    def should_stop(self) -> bool: ...

    def lr_finder_done(
        self, phase: int, lrs: list[float], losses: list[float], suggestion: float | None
    ) -> None: ...

    def log(self, message: str) -> None: ...


class MemoryReporter:
    """Keeps everything in lists: for bare-loop benchmarks and backend tests without a job."""

    def __init__(self, stop_after_epochs: int | None = None):
        self.epochs: list[dict] = []
        self.phases: list[tuple[int, int, int]] = []
        self.lr_finder: dict = {}
        self.messages: list[str] = []
        self.batches = 0
        self.stop_after_epochs = stop_after_epochs

    def phase_started(self, phase, epochs, batches_per_epoch):
        self.phases.append((phase, epochs, batches_per_epoch))

    def batch_done(self):
        self.batches += 1

    def epoch_done(self, phase, epoch, **metrics):
        self.epochs.append({"phase": phase, "epoch": epoch, **metrics})

    def should_stop(self):
        return self.stop_after_epochs is not None and len(self.epochs) >= self.stop_after_epochs

    def lr_finder_done(self, phase, lrs, losses, suggestion):
        self.lr_finder = {"phase": phase, "lrs": lrs, "losses": losses, "suggestion": suggestion}

    def log(self, message):
        self.messages.append(message)
