#!/usr/bin/env python3
"""In-process benchmark of the experiments dashboard pages on PostgreSQL.

Creates a throwaway database (moocguide_dashbench), migrates it, fills it with --runs training
jobs (a few epochs each) plus one big run (2 x 150 epochs, a 100-point LR finder curve), then
requests each dashboard page through django.test.Client (no network: the time is the wall time
of client.get, i.e. middleware + view + SQL + templates) and counts its SQL queries with
CaptureQueriesContext. Prints median / p95 latency, the ratio to a trivial page (/api/) measured
in the same run, the query count and PASS/FAIL against the targets; pages that miss a target are
profiled (cProfile, top 15 by cumulative time); --profile all|none changes that.

    .venv/bin/python bench/dashboard.py [--runs 1000] [--repeat 20] [--json out.json] [--keep-db]

See bench/README.md. It is a benchmark, not a test: the exit status is 0 even when a target is
missed (1 only when the setup fails or a page does not answer 200).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import REPO, percentile

TARGET_MEDIAN_MS = 150.0
TARGET_QUERIES = 10
WARMUP = 2

# HAM10000-like: 7 classes, as in the thesis's skin-lesion experiments.
CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
SUPPORT = [33, 51, 110, 12, 111, 671, 14]  # test images per class (n_test = 1002)


# --------------------------------------------------------------------------- environment


def bench_env(args) -> dict[str, str]:
    return common.django_env(
        args, "bench", inherit=False, DJANGO_ALLOWED_HOSTS="*", **common.PLAIN_HTTP_SETTINGS
    )


def create_and_migrate(args, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    common.recreate_db(args, {**os.environ, **env})
    return time.perf_counter() - t0


def django_setup(env: dict[str, str]) -> None:
    import warnings

    # WhiteNoise warns once that STATIC_ROOT (staticfiles/) was never collected: irrelevant here.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    os.environ.update(env)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


# --------------------------------------------------------------------------- data


def _evaluation(rng: random.Random, accuracy: float, dataset_name: str, n_top: int = 16) -> dict:
    """A realistic evaluation dict: 7x7 confusion matrix, per-class rows, top losses."""
    matrix = []
    for i, support in enumerate(SUPPORT):
        correct = max(
            0, min(support, round(support * rng.uniform(accuracy - 0.15, accuracy + 0.05)))
        )
        row = [0] * len(CLASSES)
        row[i] = correct
        for _ in range(support - correct):
            j = rng.randrange(len(CLASSES) - 1)
            row[j if j < i else j + 1] += 1
        matrix.append(row)
    col = [sum(matrix[r][c] for r in range(len(CLASSES))) for c in range(len(CLASSES))]
    per_class = []
    for i, name in enumerate(CLASSES):
        tp = matrix[i][i]
        precision = tp / col[i] if col[i] else 0.0
        recall = tp / SUPPORT[i]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {
                "class": name,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "support": SUPPORT[i],
            }
        )
    confused = sorted(
        ((matrix[i][j], i, j) for i in range(len(CLASSES)) for j in range(len(CLASSES)) if i != j),
        reverse=True,
    )[:5]
    n_test = sum(SUPPORT)
    top_losses = []
    for k in range(n_top):
        a, p = rng.sample(range(len(CLASSES)), 2)
        top_losses.append(
            {
                "path": f"Test/{CLASSES[a]}/ISIC_{rng.randrange(10**7):07d}.jpg",
                "actual": CLASSES[a],
                "predicted": CLASSES[p],
                "loss": round(rng.uniform(2.0, 9.0) - 0.2 * k, 4),
                "probability": round(rng.uniform(0.5, 1.0), 4),
            }
        )
    return {
        "accuracy": round(sum(matrix[i][i] for i in range(len(CLASSES))) / n_test, 4),
        "classes": CLASSES,
        "per_class": per_class,
        "confusion_matrix": matrix,
        "most_confused": [
            {"actual": CLASSES[i], "predicted": CLASSES[j], "count": c} for c, i, j in confused
        ],
        "top_losses": top_losses,
        "n_test": n_test,
        "dataset": dataset_name,
    }


def _metrics(job, rng: random.Random, epochs1: int, epochs2: int, final_acc: float, EpochMetric):
    rows = []
    total = epochs1 + epochs2
    for phase, n in ((1, epochs1), (2, epochs2)):
        for epoch in range(1, n + 1):
            g = epoch if phase == 1 else epochs1 + epoch
            progress = g / total
            train = 1.9 * math.exp(-3 * progress) + 0.1 + rng.uniform(-0.02, 0.02)
            valid = 1.7 * math.exp(-2.5 * progress) + 0.35 + rng.uniform(-0.04, 0.04)
            acc = min(0.99, final_acc * (0.6 + 0.4 * progress) + rng.uniform(-0.01, 0.01))
            rows.append(
                EpochMetric(
                    job=job,
                    phase=phase,
                    epoch=epoch,
                    train_loss=train,
                    valid_loss=valid,
                    valid_accuracy=acc,
                    learning_rate=3e-3 if phase == 1 else 5e-5,
                    seconds=rng.uniform(20, 60) * (1 if phase == 1 else 1.6),
                    images_per_second=rng.uniform(150, 400),
                )
            )
    return rows


def fill(n_runs: int, seed: int) -> dict:
    """Bulk-create the dataset, n_runs small jobs and one big run; returns ids for the URLs."""
    from django.db import connection, transaction

    from experiments.architectures import THESIS_ARCHITECTURES
    from experiments.jobs.presets import TABLE_4_1
    from experiments.models import Dataset, EpochMetric, TrainingJob

    rng = random.Random(seed)
    t0 = time.perf_counter()
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name="bench",
            root="/srv/data/bench",
            layout=Dataset.KAGGLE,
            preset="default",
            classes=CLASSES,
            report={"splits": {"train": 8012, "valid": 2003, "test": 1002}},
        )
        statuses = (
            [TrainingJob.SUCCEEDED] * 88
            + [TrainingJob.FAILED] * 6
            + [TrainingJob.CANCELLED] * 3
            + [TrainingJob.RUNNING] * 2
            + [TrainingJob.QUEUED] * 1
        )
        jobs = []
        for i in range(n_runs):
            library = rng.choice(["keras", "fastai"])
            status = rng.choice(statuses)
            final_acc = rng.uniform(0.70, 0.80) if library == "keras" else rng.uniform(0.83, 0.89)
            done = status in TrainingJob.FINISHED
            jobs.append(
                TrainingJob(
                    **TABLE_4_1[library],
                    library=library,
                    architecture=rng.choice(THESIS_ARCHITECTURES),
                    dataset=dataset,
                    dataset_name=dataset.name,
                    seed=rng.choice([0, 1, 2, 42, 1234]) + i % 7,
                    status=status,
                    error="CUDA out of memory" if status == TrainingJob.FAILED else "",
                    worker_host="gpu-worker-1",
                    device="NVIDIA GeForce RTX 2080 Ti",
                    progress_phase=2 if done else 1,
                    progress_epoch=15 if status == TrainingJob.SUCCEEDED else rng.randrange(1, 15),
                    evaluation=(
                        _evaluation(rng, final_acc, dataset.name, n_top=9)
                        if status == TrainingJob.SUCCEEDED
                        else {}
                    ),
                    phase_seconds={"1": rng.uniform(300, 2000), "2": rng.uniform(900, 4000)}
                    if status == TrainingJob.SUCCEEDED
                    else {},
                    manifest={
                        "python": "3.11.7",
                        "library_version": "2.15.0",
                        "seed": seed,
                        "dataset_hash": "ab" * 32,
                    },
                )
            )
            # Keep the small runs at 5 + 10 epochs (bulk overrides of the preset's epochs).
            jobs[-1].epochs1, jobs[-1].epochs2 = 5, 10
            jobs[-1]._final_acc = final_acc
        TrainingJob.objects.bulk_create(jobs, batch_size=500)

        big_acc = 0.873
        big = TrainingJob(
            **{**TABLE_4_1["fastai"], "epochs1": 150, "epochs2": 150},
            library="fastai",
            architecture="resnet50",
            dataset=dataset,
            dataset_name=dataset.name,
            seed=42,
            status=TrainingJob.SUCCEEDED,
            worker_host="gpu-worker-1",
            device="NVIDIA GeForce RTX 2080 Ti",
            progress_phase=2,
            progress_epoch=300,
            evaluation=_evaluation(rng, big_acc, dataset.name, n_top=16),
            phase_seconds={"1": 6480.0, "2": 15120.0},
            manifest={
                "python": "3.11.7",
                "library_version": "2.7.14",
                "seed": 42,
                "dataset_hash": "cd" * 32,
                "packages": {f"pkg{i}": "1.0" for i in range(40)},
            },
            lr_finder={
                "lrs": [1e-7 * (10 ** (8 * k / 99)) for k in range(100)],
                "losses": [
                    2.2
                    - 1.2 * math.exp(-(((k - 60) / 18) ** 2))
                    + (0.0 if k < 90 else 0.3 * (k - 89) ** 1.5)
                    + rng.uniform(-0.03, 0.03)
                    for k in range(100)
                ],
                "suggestion": 2.3e-3,
            },
        )
        big.save()

        metrics = []
        for job in jobs:
            if job.status == TrainingJob.SUCCEEDED:
                e1, e2 = 5, 10
            elif job.status in (TrainingJob.FAILED, TrainingJob.CANCELLED, TrainingJob.RUNNING):
                e1, e2 = 5, rng.randrange(0, 10)
            else:
                continue
            metrics.extend(_metrics(job, rng, e1, e2, job._final_acc, EpochMetric))
        metrics.extend(_metrics(big, rng, 150, 150, big_acc, EpochMetric))
        EpochMetric.objects.bulk_create(metrics, batch_size=2000)

        # created_at is auto_now_add (now for every row): spread it over the past, one run an
        # hour, so that sorting by date is meaningful; finished_at follows it.
        with connection.cursor() as cur:
            table = TrainingJob._meta.db_table
            cur.execute(
                f"UPDATE {table} SET created_at = now() - ((%s - id) * interval '1 hour'), "
                f"started_at = now() - ((%s - id) * interval '1 hour') + interval '1 minute', "
                f"finished_at = CASE WHEN status IN ('succeeded','failed','cancelled') "
                f"THEN now() - ((%s - id) * interval '1 hour') + interval '50 minutes' END",
                [big.pk, big.pk, big.pk],
            )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")

    # 12 runs to compare: one succeeded run per (library, thesis architecture).
    compare_ids = []
    for library in ("keras", "fastai"):
        for arch in THESIS_ARCHITECTURES:
            job = (
                TrainingJob.objects.filter(
                    library=library, architecture=arch, status=TrainingJob.SUCCEEDED
                )
                .order_by("id")
                .only("id")
                .first()
            )
            if job is not None:
                compare_ids.append(job.pk)
    return {
        "seconds": time.perf_counter() - t0,
        "jobs": TrainingJob.objects.count(),
        "metrics": EpochMetric.objects.count(),
        "big_id": big.pk,
        "compare_ids": compare_ids,
    }


# --------------------------------------------------------------------------- measuring


@dataclass
class PageResult:
    name: str
    url: str
    targeted: bool
    status: int = 0
    kib: float = 0.0
    queries: int = 0
    queries_first_warmup: int = 0
    median_ms: float = 0.0
    p95_ms: float = 0.0
    min_ms: float = 0.0
    max_ms: float = 0.0
    ratio: float | None = None
    verdict: str = "-"
    samples_ms: list[float] = field(default_factory=list)
    profile: str = ""


def pages(ids: dict) -> list[tuple[str, str, bool]]:
    """(name, url, has a target). The first one is the baseline."""
    big = ids["big_id"]
    compare = "/experiments/compare/?ids=" + ",".join(str(i) for i in ids["compare_ids"])
    return [
        ("baseline /api/", "/api/", False),
        ("run page (big run)", f"/experiments/runs/{big}/", True),
        ("run live JSON (big run)", f"/experiments/runs/{big}/live/", False),
        ("runs list, page 1", "/experiments/", True),
        (
            "runs list, filtered+sorted",
            "/experiments/?library=keras&status=succeeded&sort=-test_accuracy",
            True,
        ),
        ("runs list, page 15", "/experiments/?page=15", True),
        (f"compare {len(ids['compare_ids'])} runs", compare, True),
        (f"compare {len(ids['compare_ids'])} runs CSV", compare + "&format=csv", False),
        ("Table 4.2", "/experiments/table-4-2/", False),
    ]


def measure(client, name: str, url: str, targeted: bool, repeat: int) -> PageResult:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    res = PageResult(name=name, url=url, targeted=targeted)
    # Warm-up requests, each under CaptureQueriesContext: the query count is the last one's
    # (the first may include one-off work such as a cold cache).
    for i in range(WARMUP):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        if i == 0:
            res.queries_first_warmup = len(ctx.captured_queries)
        res.queries = len(ctx.captured_queries)
        res.status = response.status_code
        res.kib = len(response.content) / 1024
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        if response.status_code != res.status:
            res.status = response.status_code
    samples.sort()
    res.samples_ms = [round(s, 3) for s in samples]
    res.median_ms = statistics.median(samples)
    res.p95_ms = percentile(samples, 95)
    res.min_ms, res.max_ms = samples[0], samples[-1]
    return res


def profile_page(client, url: str, requests: int = 3, top: int = 15) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(requests):
        client.get(url)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(10)  # the cumulative top is mostly Django wrappers
    return f"({requests} requests, timings inflated by the profiler)\n" + out.getvalue().strip()


def print_table(results: list[PageResult]) -> None:
    cols = ("page", "status", "KiB", "queries", "median ms", "p95 ms", "median x", "verdict")
    rows = [
        (
            r.name,
            str(r.status),
            f"{r.kib:.1f}",
            str(r.queries) + ("*" if r.queries_first_warmup != r.queries else ""),
            f"{r.median_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{r.ratio:.1f}" if r.ratio is not None else "-",
            r.verdict,
        )
        for r in results
    ]
    common.print_table(cols, rows, left=(0, 7))


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="small training jobs (default 1000)")
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    common.add_json_arg(ap)
    ap.add_argument(
        "--profile",
        choices=["failed", "all", "none"],
        default="failed",
        help="cProfile these pages after measuring (default: those that miss a target)",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed of the generated data")
    common.add_db_args(ap, "moocguide_dashbench")
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.repeat, args.profile = 20, 1, "none"

    env = bench_env(args)
    exit_code = 0
    created = False
    started = time.perf_counter()
    try:
        created = True
        migrate_s = create_and_migrate(args, env)
        django_setup(env)

        import django
        from django.db import connection
        from django.test import Client

        data = fill(args.runs, args.seed)
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            pg_version = cur.fetchone()[0]
        usable = common.usable_cpus()
        print(
            common.machine_line(
                usable, f"Django {django.get_version()}", f"PostgreSQL {pg_version}"
            )
        )
        print(
            f"database {args.db_name}: migrated in {migrate_s:.1f} s; filled in "
            f"{data['seconds']:.1f} s: {data['jobs']} jobs, {data['metrics']} epoch metrics "
            f"(big run #{data['big_id']}: 150 + 150 epochs, LR finder 100 points; "
            f"compared runs {data['compare_ids']})"
        )
        print(
            f"method: django.test.Client in-process, anonymous, {WARMUP} warm-up + "
            f"{args.repeat} timed requests per page; queries counted on the warm-ups"
        )
        print()

        client = Client()
        results = []
        for name, url, targeted in pages(data):
            print(f"  {name} ...", flush=True)
            results.append(measure(client, name, url, targeted, args.repeat))
        base = results[0]
        for r in results:
            r.ratio = r.median_ms / base.median_ms if base.median_ms > 0 else None
            if r.status != 200:
                exit_code = 1
            if r.targeted:
                ok = (
                    r.status == 200
                    and r.median_ms <= TARGET_MEDIAN_MS
                    and r.queries <= TARGET_QUERIES
                )
                r.verdict = "PASS" if ok else "FAIL"
                if not ok:
                    why = []
                    if r.median_ms > TARGET_MEDIAN_MS:
                        why.append("time")
                    if r.queries > TARGET_QUERIES:
                        why.append("queries")
                    if r.status != 200:
                        why.append(f"HTTP {r.status}")
                    r.verdict += " (" + ", ".join(why) + ")"
        print()
        print_table(results)
        print(
            f"(targets, on the pages with a verdict: median <= {TARGET_MEDIAN_MS:g} ms and "
            f"<= {TARGET_QUERIES} SQL queries; 'median x' = median / the baseline's median; "
            "'*' = the first warm-up request made a different number of queries)"
        )
        for r in results:
            if r.queries_first_warmup != r.queries:
                print(
                    f"  {r.name}: {r.queries_first_warmup} queries on the first request, "
                    f"{r.queries} after"
                )
            if r.status != 200:
                print(f"ERROR {r.name}: HTTP {r.status} for {r.url}")

        failed = [r for r in results if r.verdict.startswith("FAIL")]
        print(
            f"\ntargets overall: {'MET' if not failed else 'MISSED'}"
            + (f" ({', '.join(r.name for r in failed)})" if failed else "")
        )
        to_profile = {"failed": failed, "all": results, "none": []}[args.profile]
        for r in to_profile:
            if r.status == 200:
                r.profile = profile_page(client, r.url)
                print(f"\n--- profile: {r.name} {r.url} (cProfile: top 15 cumulative, 10 own time)")
                print(r.profile)

        if args.json:
            payload = {
                "machine": {
                    "nproc": usable,
                    "python": platform.python_version(),
                    "django": django.get_version(),
                    "postgres": pg_version,
                },
                "data": data,
                "method": {"warmup": WARMUP, "repeat": args.repeat},
                "targets": {
                    "median_ms": TARGET_MEDIAN_MS,
                    "queries": TARGET_QUERIES,
                    "met": not failed,
                },
                "baseline": base.name,
                "results": [asdict(r) for r in results],
            }
            common.write_json(args.json, payload)
    finally:
        common.drop_or_keep_db(args, created, close_django=True)
        print(f"total {time.perf_counter() - started:.0f} s")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
