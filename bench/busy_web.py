"""Web and training on one host: web p95 and epoch time, idle vs busy, per job CPU priority.

    .venv/bin/python bench/busy_web.py [--clients 20] [--seconds 20] [--nice 0,10]

On a throwaway PostgreSQL database: gunicorn serves the app; the demo dataset trains with
`manage.py train` (small CNN, fastai); N threads fetch pages in a loop. Rows:
  web idle        - the clients alone
  job idle nice=K - the job alone (JOB_NICE=K)
  busy nice=K     - both at once: the web's p95 and the job's epoch time under load
The job's epoch time is the median of its epochs' wall seconds (EpochMetric.seconds).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

PAGES = ["/", "/courses/", "/experiments/", "/experiments/datasets/", "/glossary/"]


def hammer(base: str, clients: int, stop: threading.Event) -> list[float]:
    """Fetch PAGES from `clients` threads until stop; the latencies (s) of the 200s."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            url = base + PAGES[n % len(PAGES)]
            n += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    ok = response.status == 200
            except OSError:
                ok = False
            if ok:
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=35)
    return sorted(latencies)


def seconds_or_dash(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def train(env: dict[str, str], nice: int, args) -> float:
    """Run one small job in the foreground; the median seconds of its epochs."""
    cmd = [
        common.PYTHON, "manage.py", "train", "--library", "fastai", "--arch", "small-cnn",
        "--dataset", "demo", "--epochs", "1", str(args.epochs), "--size", "64",
        "--batch-size", "32", "--random-init", "--no-lr-finder",
    ]  # fmt: skip
    if args.smoke:
        cmd += ["--max-batches", "2"]
    proc = subprocess.run(
        cmd, cwd=common.REPO, env={**env, "JOB_NICE": str(nice)}, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    rows = common.psql_query(
        args,
        "SELECT seconds FROM experiments_epochmetric WHERE job_id = "
        "(SELECT max(id) FROM experiments_trainingjob) AND phase = 2",
    )
    return statistics.median(r[0] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20, help="web-only measurement time")
    ap.add_argument("--epochs", type=int, default=4, help="phase-2 epochs of the job")
    ap.add_argument("--nice", default="0,10", help="JOB_NICE values to compare")
    common.add_db_args(ap, "bench_busy_web")
    common.add_json_arg(ap)
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.clients, args.seconds, args.epochs, args.nice = 2, 1.0, 1, "10"

    media = common.REPO / "var" / f"bench-busy-web{os.environ.get('BENCH_DB_SUFFIX', '')}"
    env = common.django_env(
        args,
        secrets.token_urlsafe(40),
        **common.PLAIN_HTTP_SETTINGS,
        MEDIA_ROOT=str(media),
        DATA_ROOTS=str(media / "datasets"),
        APP_VAR_DIR=str(media),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    common.recreate_db(args, env, (common.MIGRATE, ("load_guide",), ("make_demo_dataset",)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    web = subprocess.Popen(
        [str(common.VENV_BIN / "gunicorn"), "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=common.REPO, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    rows, results = [], {}
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except OSError:
                time.sleep(0.5)

        def web_only() -> list[float]:
            stop = threading.Event()
            timer = threading.Timer(args.seconds, stop.set)
            timer.start()
            return hammer(base, args.clients, stop)

        idle = web_only()
        p95 = common.percentile(idle, 95) * 1000
        rows.append(["web idle", f"{p95:.0f}", f"{len(idle) / args.seconds:.1f}", "-"])
        results["web_idle_p95_ms"] = p95
        for nice in [int(n) for n in args.nice.split(",")]:
            # smoke: the busy run alone (the same train() path; half the time)
            alone = None if args.smoke else train(env, nice, args)
            rows.append([f"job idle nice={nice}", "-", "-", seconds_or_dash(alone)])
            stop = threading.Event()
            box: dict[str, list[float]] = {}

            def load(box=box, stop=stop) -> None:
                box["lat"] = hammer(base, args.clients, stop)

            loader = threading.Thread(target=load)
            loader.start()
            started = time.monotonic()
            busy = train(env, nice, args)
            stop.set()
            loader.join()
            lat = box["lat"]
            busy_p95 = common.percentile(lat, 95) * 1000
            rate = len(lat) / (time.monotonic() - started)
            rows.append([f"busy nice={nice}", f"{busy_p95:.0f}", f"{rate:.1f}", f"{busy:.2f}"])
            results[f"nice_{nice}"] = {
                "epoch_idle_s": alone,
                "epoch_busy_s": busy,
                "web_busy_p95_ms": busy_p95,
                "slowdown": busy / alone if alone else None,
            }
    finally:
        common.stop_process_group(web, 10)
        common.drop_or_keep_db(args, True)
    print(common.machine_line(common.usable_cpus(), note=f", {args.clients} web clients"))
    common.print_table(["scenario", "web p95 ms", "req/s", "epoch s"], rows)
    if args.json:
        common.write_json(args.json, results)


if __name__ == "__main__":
    main()
