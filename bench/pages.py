#!/usr/bin/env python3
"""Every public page and the main API endpoints against a trivial view, under gunicorn.

Creates a throwaway PostgreSQL database (moocguide_pagesbench), loads the guide content and
--runs training runs (bench/dashboard.py's data, with one 2 x 150-epoch run), serves the project
with gunicorn (--workers, sync workers) and its own URLconf (bench/pages_urls.py, which adds a
trivial view), requests every page once, reads each worker's RSS, then measures each endpoint
in blocks alternated A B ... B A, with a new connection per request, at each --concurrency.
Prints the p95 of every endpoint, its ratio to the trivial view and the issue-18 targets
(guide pages and API lists <= 3x the trivial view; RSS per worker <= 150 MiB).

    .venv/bin/python bench/pages.py [--runs 1000] [--requests 200] [--concurrency 1,8]
    .venv/bin/python bench/pages.py --smoke      # seconds: a few requests, a few runs

See bench/README.md. A benchmark, not a test: the exit status is 0 even when a target is missed
(1 when the setup fails or a page does not answer 200).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import dashboard
from common import REPO, percentile
from guide_http import GUNICORN, HOST, free_port

MAX_RATIO = 3.0
MAX_WORKER_RSS_MIB = 150.0
TRIVIAL = "trivial view"


def endpoints(ids: dict) -> list[tuple[str, str, bool]]:
    """(name, path, has the <= 3x target). The first one is the trivial view."""
    big = ids["big_id"]
    compare = "/experiments/compare/?ids=" + ",".join(str(i) for i in ids["compare_ids"])
    guide = [
        ("home /", "/"),
        ("courses /courses/", "/courses/"),
        ("courses, filtered", "/courses/?platform=Udacity&price=free&sort=price"),
        ("course page", "/courses/deep-learning-specialization/"),
        ("programme /programmes/ng/", "/programmes/ng/"),
        ("lesson /programmes/fastai/fastai-7/", "/programmes/fastai/fastai-7/"),
        ("compare /compare/", "/compare/"),
        ("glossary /glossary/", "/glossary/"),
        ("recommend /recommend/", "/recommend/"),
        ("keras-vs-fastai", "/keras-vs-fastai/"),
        ("search /search/", "/search/?q=transfer+learning"),
        ("api courses", "/api/courses/"),
        ("api glossary", "/api/glossary/"),
        ("api search", "/api/search/?q=transfer+learning"),
        ("api jobs", "/api/jobs/"),
    ]
    dashboard_pages = [
        ("runs list /experiments/", "/experiments/"),
        (f"compare {len(ids['compare_ids'])} runs", compare),
        ("run page (300 epochs)", f"/experiments/runs/{big}/"),
        ("api job", f"/api/jobs/{big}/"),
        ("api job metrics", f"/api/jobs/{big}/metrics/"),
        ("api job figures", f"/api/jobs/{big}/figures/"),
    ]
    return (
        [(TRIVIAL, "/bench-trivial/", False)]
        + [(name, path, True) for name, path in guide]
        + [(name, path, False) for name, path in dashboard_pages]
    )


# --------------------------------------------------------------------------- serving


def serve(args, env: dict[str, str], log_path: Path):
    port = free_port()
    cmd = [
        GUNICORN, "config.wsgi:application", "--pythonpath", str(REPO / "bench"),
        "--bind", f"{HOST}:{port}", "--workers", str(args.workers), "--worker-class", "sync",
        "--timeout", "60", "--log-level", "warning", "--error-logfile", "-",
    ]  # fmt: skip
    log = open(log_path, "wb")
    proc = common.subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log, stderr=common.subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
            raise SystemExit(f"gunicorn exited early (status {proc.returncode})")
        try:
            if get(port, "/bench-trivial/")[1] == 200 and len(workers(proc.pid)) == args.workers:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    common.stop_process_group(proc, timeout=10, kill_timeout=5)
    raise SystemExit("gunicorn did not answer within 60 s")


def workers(master: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(port: int, path: str) -> tuple[float, int]:
    """(seconds, status) of one GET on a new connection, body read."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept-Language": "en", "Connection": "close"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return time.perf_counter() - t0, response.status


def block(port: int, path: str, requests: int, concurrency: int) -> list[tuple[float, int]]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda _i: get(port, path), range(requests)))


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="training runs in the database")
    ap.add_argument("--requests", type=int, default=200, help="requests per endpoint and level")
    ap.add_argument("--concurrency", default="1,8", help="comma-separated levels (default 1,8)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--smoke", action="store_true", help="a few runs and requests (seconds)")
    ap.add_argument("--seed", type=int, default=0)
    common.add_db_args(ap, "moocguide_pagesbench")
    common.add_json_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.requests = min(args.runs, 20), min(args.requests, 4)
    levels = [int(c) for c in args.concurrency.split(",")]

    env = common.django_env(
        args,
        "bench-only-secret-key-not-for-production-4b2e9c",
        DJANGO_ALLOWED_HOSTS=HOST,
        # DRF's user throttle counts anonymous clients too: lift both.
        API_THROTTLE_ANON="100000000/minute",
        API_THROTTLE_USER="100000000/minute",
        CACHE_URL="locmem://",
        **common.PLAIN_HTTP_SETTINGS,
    )
    t0 = time.perf_counter()
    common.recreate_db(args, env, (common.MIGRATE, ("load_guide",)))
    dashboard.django_setup(env)
    ids = dashboard.fill(args.runs, args.seed)
    print(f"database {args.db_name}: {ids['jobs']} runs, {ids['metrics']} epoch rows, guide "
          f"content; ready in {time.perf_counter() - t0:.1f} s")  # fmt: skip

    pages = endpoints(ids)
    proc = None
    log_path = Path(tempfile.mkstemp(prefix="pages-gunicorn-", suffix=".log")[1])
    try:
        proc, port = serve(args, {**env, "DJANGO_SETTINGS_MODULE": "pages_settings"}, log_path)
        pids = workers(proc.pid)
        rss_start = {pid: rss_mib(pid) for pid in pids}
        # Every page served by every worker (new connections spread over the workers).
        bad = []
        for name, path, _target in pages:
            for _seconds, status in block(port, path, 2 * args.workers, args.workers):
                if status != 200:
                    bad.append(f"{name} {path}: {status}")
        rss_served = {pid: rss_mib(pid) for pid in pids}
        samples: dict[tuple[str, int], list[float]] = {}
        for level in levels:
            half = max(1, args.requests // 2)
            for order in (pages, pages[::-1]):  # A B ... B A
                for name, path, _target in order:
                    for seconds, status in block(port, path, half, level):
                        samples.setdefault((name, level), []).append(seconds * 1000)
                        if status != 200:
                            bad.append(f"{name} {path}: {status}")
        rss_end = {pid: rss_mib(pid) for pid in workers(proc.pid)}
        master_rss = rss_mib(proc.pid)
    finally:
        if proc is not None:
            common.stop_process_group(proc, timeout=15, kill_timeout=5)
        common.drop_or_keep_db(args, created=True, close_django=True)

    p95 = {key: percentile(sorted(values), 95) for key, values in samples.items()}
    cols = ["endpoint"]
    for level in levels:
        cols += [f"p95 ms c{level}", f"x trivial c{level}"]
    cols.append("target <= 3x")
    rows, results, missed = [], [], []
    for name, path, target in pages:
        row, ratios = [name], {}
        for level in levels:
            ratio = p95[(name, level)] / p95[(TRIVIAL, level)]
            ratios[level] = ratio
            row += [f"{p95[(name, level)]:.1f}", f"{ratio:.2f}"]
        ok = all(r <= MAX_RATIO for r in ratios.values())
        if target and not ok:
            missed.append(name)
        row.append(("PASS" if ok else "FAIL") if target else "-")
        rows.append(row)
        results.append({"name": name, "path": path, "target": target,
                        "p95_ms": {str(lv): p95[(name, lv)] for lv in levels},
                        "ratio": {str(lv): r for lv, r in ratios.items()}})  # fmt: skip
    print(common.machine_line(common.usable_cpus(), f"{args.workers} sync gunicorn workers"))
    common.print_table(cols, rows)
    worst = max(rss_served.values())
    print(
        "RSS per worker, MiB: at start "
        + ", ".join(f"{v:.0f}" for v in rss_start.values())
        + "; after every page once "
        + ", ".join(f"{v:.0f}" for v in rss_served.values())
        + "; at the end "
        + ", ".join(f"{v:.0f}" for v in rss_end.values())
        + f"; master {master_rss:.0f}"
        + f"  -> {'PASS' if worst <= MAX_WORKER_RSS_MIB else 'FAIL'} (<= {MAX_WORKER_RSS_MIB:.0f})"
    )
    print(f"pages over 3x the trivial view: {', '.join(missed) if missed else 'none'}")
    if args.json:
        common.write_json(args.json, {
            "runs": ids["jobs"], "requests": args.requests, "workers": args.workers,
            "results": results, "rss_mib": {"start": list(rss_start.values()),
            "served": list(rss_served.values()), "end": list(rss_end.values()),
            "master": master_rss},
        })  # fmt: skip
    if bad:
        print("non-200 answers:\n  " + "\n  ".join(sorted(set(bad))), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
