#!/usr/bin/env python3
"""First byte to fully drawn: the run and dataset pages in Chromium, over `make run`'s server.

Starts the development server the way scripts/run.sh does (DEBUG on; with --static manifest:
collectstatic, hashed gzip-compressed files served by WhiteNoise, `runserver --nostatic`; with
--static finders: the files straight from the source folders, uncompressed, as before issue 19)
on a throwaway SQLite database holding the demo dataset and one finished run. Then opens each
page --repeat times in a fresh browser context (an empty cache, like a first visit) and reports
the navigation timing from the response's first byte (responseStart) to the moment every chart
box on the page has been drawn (data-rendered set by static/js/charts.js), and the bytes moved.

    .venv/bin/python bench/page_load.py [--static manifest|finders] [--repeat 5] [--port 8765]

A benchmark, not a test: prints the medians; the exit status is 1 only if the setup fails.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
CHROMIUM = "/usr/bin/chromium"

SEED = """
from experiments.models import Dataset, EpochMetric, TrainingJob
from experiments.jobs.presets import TABLE_4_1
dataset = Dataset.objects.get(name="demo")
classes = sorted(dataset.report["per_class_splits"]["test"])
n = len(classes)
evaluation = {
    "accuracy": 0.9, "classes": classes, "n_test": 120, "top_losses": [], "most_confused": [],
    "per_class": [{"class": c, "precision": .9, "recall": .9, "f1": .9, "support": 12}
                  for c in classes],
    "confusion_matrix": [[10 if i == j else 0 for j in range(n)] for i in range(n)],
}
job = TrainingJob.objects.create(
    **{**TABLE_4_1["fastai"], "library": "fastai", "architecture": "resnet50",
       "dataset": dataset, "dataset_name": "demo", "epochs1": 15, "epochs2": 40,
       "status": "succeeded", "evaluation": evaluation, "phase_seconds": {"1": 60, "2": 200},
       "lr_finder": {"lrs": [10 ** (-7 + i / 10) for i in range(70)],
                     "losses": [2 - i / 50 for i in range(70)], "suggestion": 1e-3}})
EpochMetric.objects.bulk_create(
    EpochMetric(job=job, phase=p, epoch=e, train_loss=1 / e, valid_loss=1.1 / e,
                valid_accuracy=.5 + e / 100, learning_rate=1e-3, seconds=5, images_per_second=90)
    for p, last in ((1, 15), (2, 40)) for e in range(1, last + 1))
print(job.pk)
"""

DRAWN = "() => [...document.querySelectorAll('.chart')].every((c) => c.dataset.rendered)"
TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const bytes = performance.getEntriesByType('resource')
    .reduce((sum, r) => sum + r.transferSize, nav.transferSize);
  return {ms: performance.now() - nav.responseStart, bytes};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--static", choices=["manifest", "finders"], default="manifest")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port or free_port()
    var = Path(tempfile.mkdtemp(prefix="page-load-"))
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "APP_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "DJANGO_STATIC_MANIFEST": "1" if args.static == "manifest" else "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def manage(*command: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "manage.py", *command], cwd=REPO, env=env, check=True, text=True, **kwargs
        )

    manage("migrate", "--no-input", "-v", "0")
    manage("make_demo_dataset", stdout=subprocess.DEVNULL)
    run_id = manage("shell", "-c", SEED, capture_output=True).stdout.strip().splitlines()[-1]
    flags = []
    if args.static == "manifest":
        manage("collectstatic", "--no-input", "-v", "0")
        flags = ["--nostatic"]
    server = subprocess.Popen(
        [PY, "manage.py", "runserver", "--noreload", *flags, f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from playwright.sync_api import sync_playwright

        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # wait for the server to answer
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        pages = {"run": f"/experiments/runs/{run_id}/", "dataset": "/experiments/datasets/demo/"}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            print(f"static files: {args.static}; {args.repeat} first visits per page")
            for name, path in pages.items():
                times, sizes = [], []
                for _ in range(args.repeat + 1):  # the first warms the server's caches
                    context = browser.new_context(
                        base_url=base, viewport={"width": 1280, "height": 900}
                    )
                    page = context.new_page()
                    page.goto(path)
                    page.wait_for_function(DRAWN, polling="raf", timeout=60_000)
                    timing = page.evaluate(TIMING)
                    times.append(timing["ms"])
                    sizes.append(timing["bytes"])
                    context.close()
                times, sizes = times[1:], sizes[1:]
                print(
                    f"  {name:8s} first byte -> drawn: median {statistics.median(times):6.0f} ms "
                    f"(min {min(times):.0f}, max {max(times):.0f}); "
                    f"{statistics.median(sizes) / 1e6:.2f} MB transferred"
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
