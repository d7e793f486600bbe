"""bench/pages.py --smoke: gunicorn on its own PostgreSQL database answers every page."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pages_bench_smoke(tmp_path):
    db_name = f"moocguide_pagesbench_{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "bench/pages.py", "--smoke", "--db-name", db_name,
         "--json", str(tmp_path / "pages.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "trivial view" in done.stdout and "RSS per worker" in done.stdout
    assert (tmp_path / "pages.json").is_file()
