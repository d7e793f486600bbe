"""TrainingBackend.train, the sequence both libraries share, on a fake backend: no Keras, no
fastai, no database. What each real backend does inside its hooks is tested in
test_keras_backend.py and test_fastai_backend.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workers.training.base import LrFinding, TrainingBackend
from workers.training.reporting import Cancelled, MemoryReporter
from workers.training.spec import JobSpec, SplitData

from .tiny import tiny_spec

FINDING = LrFinding([1e-5, 1e-4, 1e-3], [2.0, 1.5, 3.0], 1e-4, "fake slope")


class RecordingReporter(MemoryReporter):
    """A MemoryReporter that also writes every call, in order, to a log shared with the
    backend; stops once `stop_when(self)` is true."""

    def __init__(self, events: list, stop_when=lambda reporter: False):
        super().__init__()
        self.events, self.stop_when = events, stop_when

    def phase_started(self, phase, epochs, batches_per_epoch):
        self.events.append(("phase_started", phase, epochs, batches_per_epoch))
        super().phase_started(phase, epochs, batches_per_epoch)

    def batch_done(self):
        self.events.append(("batch_done",))
        super().batch_done()

    def epoch_done(self, phase, epoch, **metrics):
        self.events.append(("epoch_done", phase, epoch))
        super().epoch_done(phase, epoch, **metrics)

    def should_stop(self):
        stop = bool(self.stop_when(self))
        self.events.append(("should_stop", stop))
        return stop

    def lr_finder_done(self, phase, lrs, losses, suggestion):
        self.events.append(("lr_finder_done", phase, lrs, losses, suggestion))
        super().lr_finder_done(phase, lrs, losses, suggestion)

    def log(self, message):
        self.events.append(("log", message))
        super().log(message)


@dataclass
class FakeRun:
    spec: JobSpec
    reporter: RecordingReporter
    phase: int = 0
    trained: list = field(default_factory=list)  # (phase, epoch) of every finished epoch


class FakeBackend(TrainingBackend[FakeRun]):
    """Every hook writes itself to the shared log; fit ticks batches and honours a stop
    between them, as the libraries' callbacks do."""

    library = "fake"
    model_file = "model.fake"
    batches = 2

    def __init__(self, events: list, finding: LrFinding | None = FINDING, fail_save=False):
        self.events, self.finding, self.fail_save = events, finding, fail_save

    def check_weights(self, spec):
        self.events.append(("check_weights",))

    def prepare(self, spec, data, reporter, workdir):
        assert workdir.is_dir()  # made by train()
        self.events.append(("prepare",))
        reporter.log("fake set-up")
        return FakeRun(spec, reporter)

    def set_phase(self, run, phase):
        run.phase = phase
        self.events.append(("set_phase", phase))

    def start_phase(self, run, phase, epochs):
        self.events.append(("start_phase", phase, epochs))

    def batches_per_epoch(self, run):
        return self.batches

    def find_lr(self, run):
        assert run.phase == 1  # the LR finder explores phase 1's model
        self.events.append(("find_lr",))
        return self.finding

    def fit(self, run, phase, epochs):
        self.events.append(("fit", phase, epochs))
        for epoch in range(1, epochs + 1):
            for _ in range(self.batches):
                run.reporter.batch_done()
                if run.reporter.should_stop():
                    return True
            run.trained.append((phase, epoch))
            run.reporter.epoch_done(
                phase,
                epoch,
                train_loss=1.0,
                valid_loss=1.0,
                valid_accuracy=0.5,
                learning_rate=1e-3,
                seconds=1.0,
                images=8,
            )
        return False

    def save(self, run, path):
        self.events.append(("save", path.name))
        path.write_text(f"trained {run.trained}")
        if self.fail_save:
            raise OSError("the disk went away")

    def predict_test(self, run, images):
        self.events.append(("predict_test", len(images)))
        return [[0.25, 0.75] for _ in images]

    def load_and_predict(self, model_path, images, image_size):  # pragma: no cover
        raise NotImplementedError


DATA = SplitData(
    classes=["a", "b"],
    train=[(Path(f"train/{i}.png"), i % 2) for i in range(8)],
    valid=[(Path(f"valid/{i}.png"), i % 2) for i in range(4)],
    test=[(Path(f"test/{i}.png"), i % 2) for i in range(3)],
)


def spec(**changes) -> JobSpec:
    """One epoch per phase, LR finder on (the library does not matter to the fake)."""
    return tiny_spec("fastai", **changes)


def stop_after_epochs(n: int):
    return lambda reporter: len(reporter.epochs) >= n


def one_epoch(phase: int, epoch: int = 1) -> list:
    ticks = [("batch_done",), ("should_stop", False)] * FakeBackend.batches
    return [*ticks, ("epoch_done", phase, epoch)]


def test_the_whole_sequence_in_order(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    workdir = tmp_path / "work"  # not there yet
    result = FakeBackend(events).train(spec(), DATA, reporter, workdir)

    assert events == [
        ("check_weights",),
        ("prepare",),
        ("log", "fake set-up"),
        ("set_phase", 1),  # before the LR finder: it explores the frozen model
        ("find_lr",),
        ("lr_finder_done", 1, FINDING.lrs, FINDING.losses, 1e-4),
        ("log", "LR finder: 3 points, suggested lr (fake slope) 0.0001"),
        ("should_stop", False),
        ("set_phase", 1),
        ("start_phase", 1, 1),  # (Keras compiles here: before phase_started)
        ("phase_started", 1, 1, 2),
        ("fit", 1, 1),
        *one_epoch(1),
        ("should_stop", False),
        ("set_phase", 2),
        ("start_phase", 2, 1),
        ("phase_started", 2, 1, 2),
        ("fit", 2, 1),
        *one_epoch(2),
        ("save", ".model.partial.fake"),  # a temporary name, renamed into place
        ("predict_test", 3),
    ]
    assert result.model_path == workdir / "model.fake"
    assert result.model_path.read_text() == "trained [(1, 1), (2, 1)]"
    assert sorted(p.name for p in workdir.iterdir()) == ["model.fake"]
    assert result.test_probabilities == [[0.25, 0.75]] * 3
    assert reporter.lr_finder == {
        "phase": 1,
        "lrs": FINDING.lrs,
        "losses": FINDING.losses,
        "suggestion": 1e-4,
    }


def test_a_stop_after_phase_1_cancels_before_phase_2_starts(tmp_path):
    events: list = []
    reporter = RecordingReporter(events, stop_when=stop_after_epochs(1))
    with pytest.raises(Cancelled):
        FakeBackend(events).train(spec(epochs2=3), DATA, reporter, tmp_path)
    assert events[-2:] == [("epoch_done", 1, 1), ("should_stop", True)]
    assert ("set_phase", 2) not in events and ("fit", 2, 3) not in events
    assert reporter.phases == [(1, 1, 2)]
    assert not any(event[0] in ("save", "predict_test") for event in events)
    assert not (tmp_path / "model.fake").exists()


def test_a_stop_inside_a_phase_cancels_the_job(tmp_path):
    events: list = []
    reporter = RecordingReporter(events, stop_when=lambda r: r.batches >= 3)
    with pytest.raises(Cancelled):
        FakeBackend(events).train(spec(epochs1=2), DATA, reporter, tmp_path)
    assert reporter.batches == 3 and [row["epoch"] for row in reporter.epochs] == [1]
    assert events[-1] == ("should_stop", True)  # nothing after the fit that saw the stop
    assert not (tmp_path / "model.fake").exists()


@pytest.mark.parametrize("skipped", [1, 2])
def test_a_phase_of_0_epochs_is_skipped_and_logged(tmp_path, skipped):
    events: list = []
    reporter = RecordingReporter(events)
    epochs = {"epochs1": 2, "epochs2": 2, f"epochs{skipped}": 0}
    result = FakeBackend(events).train(spec(**epochs), DATA, reporter, tmp_path)

    trained = 3 - skipped
    assert f"phase {skipped}: 0 epochs, skipped" in reporter.messages
    assert reporter.phases == [(trained, 2, 2)]
    assert [e for e in events if e[0] in ("start_phase", "fit")] == [
        ("start_phase", trained, 2),
        ("fit", trained, 2),
    ]
    assert (("set_phase", 2) in events) == (trained == 2)  # a skipped phase 2 never unfreezes
    assert result.model_path.read_text() == f"trained [({trained}, 1), ({trained}, 2)]"


def test_no_epochs_at_all_still_saves_and_predicts(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    result = FakeBackend(events).train(
        spec(epochs1=0, epochs2=0, run_lr_finder=False), DATA, reporter, tmp_path
    )
    assert reporter.messages == [
        "fake set-up",
        "phase 1: 0 epochs, skipped",
        "phase 2: 0 epochs, skipped",
    ]
    assert reporter.phases == [] and not any(e[0] == "should_stop" for e in events)
    assert result.model_path.is_file() and len(result.test_probabilities) == 3


def test_a_stop_during_the_lr_finder_cancels_before_phase_1(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    with pytest.raises(Cancelled):
        FakeBackend(events, finding=None).train(spec(), DATA, reporter, tmp_path)
    assert events[-1] == ("find_lr",)
    assert reporter.lr_finder == {} and reporter.phases == []


def test_the_lr_finder_runs_only_when_asked(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    FakeBackend(events).train(spec(run_lr_finder=False), DATA, reporter, tmp_path)
    assert ("find_lr",) not in events and reporter.lr_finder == {}
    assert not any(m.startswith("LR finder") for m in reporter.messages)
    assert events[3] == ("set_phase", 1)  # phase 1's trainability all the same


def test_an_lr_finder_without_suggestion_says_so(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    finding = LrFinding([1e-7], [2.0], None, "valley")
    FakeBackend(events, finding=finding).train(spec(), DATA, reporter, tmp_path)
    assert [e for e in events if e[0] == "lr_finder_done"] == [
        ("lr_finder_done", 1, [1e-7], [2.0], None)
    ]
    assert "LR finder: 1 points, suggested lr (valley) -" in reporter.messages


def test_a_failed_save_leaves_no_model_file(tmp_path):
    events: list = []
    reporter = RecordingReporter(events)
    with pytest.raises(OSError, match="went away"):
        FakeBackend(events, fail_save=True).train(spec(), DATA, reporter, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the model nor its partial file
    assert ("predict_test", 3) not in events
