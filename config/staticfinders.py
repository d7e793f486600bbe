"""Serve plotly.js from the installed plotly package, so it matches the pinned version.

A worker-only host (a GPU machine with the training libraries alone) may lack plotly: the
finder then serves nothing and says so in `manage.py check` instead of breaking every command.
"""

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core import checks
from django.core.files.storage import FileSystemStorage

PUBLIC_PATH = "vendor/plotly.min.js"


def _package_data() -> Path | None:
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        data = _package_data()
        self.storage = FileSystemStorage(location=str(data)) if data else None
        if self.storage:
            self.storage.prefix = "vendor"

    def check(self, **kwargs):
        if self.storage:
            return []
        return [
            checks.Warning(
                "plotly is not installed: the dashboards will draw no charts.",
                hint="pip install -r requirements.txt (a worker-only host needs no plotly).",
                id="moocguide.W001",
            )
        ]

    def find(self, path, find_all=False, **kwargs):
        data = _package_data()
        if path != PUBLIC_PATH or data is None:
            return [] if find_all else None
        match = str(data / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns):
        if self.storage:
            yield "plotly.min.js", self.storage
