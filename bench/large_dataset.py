#!/usr/bin/env python3
"""Datasets at scale: a generated 25,000-image dataset (Kaggle layout, 8 classes).

Writes Train/<class>/ and Test/<class>/ folders of small PNGs (with a few exact duplicates
across and within classes and a few damaged files, so the cleaning lists are long), imports it
with `manage.py import_dataset` into a throwaway PostgreSQL database (wall time and the
import process's peak memory), then times the dataset page and the launch form through
django.test.Client (median and p95 of --repeat requests, SQL query counts).

    .venv/bin/python bench/large_dataset.py [--images 25000] [--repeat 10] [--json out.json]

The images are written once under --data-dir (default var/bench/large-25k) and reused.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

REPO = common.REPO
CLASSES = [f"class{i}" for i in range(8)]
BROKEN = 250  # damaged files: the skipped list spans pages


def generate(root: Path, images: int, size: int, seed: int = 0) -> dict:
    """Write the dataset (skipped when root/.complete says it is there); return its counts."""
    marker = root / ".complete"
    if marker.is_file() and marker.read_text().strip() == f"{images} {size} {BROKEN}":
        return {"generated": False}
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    random.seed(seed)
    t0 = time.perf_counter()
    written = 0
    for i in range(images):
        label = CLASSES[i % len(CLASSES)]
        split = "Test" if i % 7 == 0 else "Train"
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png", compress_level=1)
        written += 1
    marker.write_text(f"{images} {size} {BROKEN}")
    return {"generated": True, "seconds": time.perf_counter() - t0, "written": written}


def add_extras(root: Path) -> None:
    """Exact copies (100 under another class: all copies removed; 100 within their class: one
    kept) and damaged files (skipped). Idempotent: rewritten on every run."""
    for k in range(100):
        label = CLASSES[k % len(CLASSES)]
        originals = sorted((root / "Train" / label).glob("0*.png"))
        other = CLASSES[(k + 1) % len(CLASSES)]
        cross, within = originals[k // len(CLASSES)], originals[100 + k // len(CLASSES)]
        (root / "Train" / other / f"dup-cross-{k}.png").write_bytes(cross.read_bytes())
        (root / "Train" / label / f"dup-within-{k}.png").write_bytes(within.read_bytes())
    for k in range(BROKEN):  # truncated PNGs and text with an image suffix
        (root / "Train" / CLASSES[k % 8] / f"broken-{k}.png").write_bytes(
            b"\x89PNG\r\n\x1a\n" if k % 2 else b"not an image"
        )


def import_with_memory(env: dict, root: Path) -> dict:
    """Run the import command in a child: wall time and its peak RSS (ru_maxrss of children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            common.PYTHON,
            "manage.py",
            "import_dataset",
            str(root),
            "--name",
            "large",
            "--no-progress",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": seconds,
        "peak_rss_mb": max(peak_kb, before) / 1024,
        "report": [
            line
            for line in proc.stdout.strip().splitlines()
            if not line.lstrip().startswith("skipped")
        ],
    }


def time_pages(env: dict, repeat: int) -> list[dict]:
    os.environ.update(env)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from experiments.roles import ensure_researchers_group

    user, _ = get_user_model().objects.get_or_create(username="bench")
    user.groups.add(ensure_researchers_group())
    client = Client()
    client.force_login(user)
    rows = []
    for label, url in (
        ("dataset page", "/experiments/datasets/large/"),
        ("dataset page, skipped p.2", "/experiments/datasets/large/?skipped_page=2"),
        ("launch form", "/experiments/runs/new/"),
        ("new study form", "/experiments/studies/new/"),
    ):
        times = []
        for i in range(repeat + 2):
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            if i >= 2:  # warm-up
                times.append(elapsed * 1000)
        times.sort()
        rows.append(
            {
                "page": label,
                "median_ms": statistics.median(times),
                "p95_ms": common.percentile(times, 95),
                "queries": len(queries),
                "bytes": len(response.content),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=25_000)
    ap.add_argument("--size", type=int, default=32, help="image side in pixels")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--data-dir", type=Path, default=REPO / "var" / "bench" / "large-25k")
    common.add_db_args(ap, "moocguide_largebench")
    common.add_json_arg(ap)
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.images, args.repeat = 1200, 1  # add_extras copies 200
        args.data_dir = (
            REPO / "var" / "bench" / f"large-smoke{os.environ.get('BENCH_DB_SUFFIX', '')}"
        )

    data = args.data_dir.resolve()
    made = generate(data, args.images, args.size)
    add_extras(data)
    env = common.django_env(
        args,
        "bench",
        DATA_ROOTS=str(data.parent),
        DJANGO_ALLOWED_HOSTS="*",
        **common.PLAIN_HTTP_SETTINGS,
    )
    common.recreate_db(args, env)
    try:
        imported = import_with_memory(env, data)
        pages = time_pages(env, args.repeat)
    finally:
        common.drop_or_keep_db(args, True, close_django=True)
    print(common.machine_line(common.usable_cpus()))
    if made.get("generated"):
        print(f"generated {made['written']} images in {made['seconds']:.1f} s")
    print(f"import: {imported['seconds']:.1f} s, peak RSS {imported['peak_rss_mb']:.0f} MB")
    for line in imported["report"]:
        print("   ", line)
    common.print_table(
        ["page", "median ms", "p95 ms", "queries", "KB"],
        [
            [
                r["page"],
                f"{r['median_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                str(r["queries"]),
                str(r["bytes"] // 1024),
            ]
            for r in pages
        ],
    )
    if args.json:
        common.write_json(args.json, {"images": args.images, "import": imported, "pages": pages})


if __name__ == "__main__":
    main()
