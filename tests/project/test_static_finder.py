"""The plotly static finder: serves the pinned plotly.js, and on a worker-only host without
plotly (a GPU machine with the training libraries alone) warns instead of breaking every
management command."""

import importlib.util
from pathlib import Path

from config import staticfinders
from config.staticfinders import PUBLIC_PATH, PlotlyFinder


def test_serves_the_installed_plotly_js():
    finder = PlotlyFinder()
    match = Path(finder.find(PUBLIC_PATH))
    assert match.name == "plotly.min.js" and match.stat().st_size > 1_000_000
    assert finder.find("vendor/other.js") is None
    assert [name for name, _ in finder.list([])] == ["plotly.min.js"]
    assert finder.check() == []


def test_without_plotly_it_warns_and_serves_nothing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        staticfinders.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "plotly" else real(name, *a),
    )
    finder = PlotlyFinder()  # used to raise AttributeError at construction
    assert finder.find(PUBLIC_PATH) is None
    assert finder.find(PUBLIC_PATH, find_all=True) == []
    assert list(finder.list([])) == []
    (warning,) = finder.check()
    assert warning.id == "moocguide.W001" and "plotly" in warning.msg
