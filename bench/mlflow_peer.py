#!/usr/bin/env python3
"""The dashboard against MLflow: the same finished runs, both served by 2 gunicorn workers.

Installs MLflow in its own venv (var/mlflow-venv, once), creates two throwaway PostgreSQL
databases, logs the same --runs finished runs into MLflow (its tracking store on PostgreSQL) and
into the project (bench/dashboard.py's data: 15-epoch runs and one 2 x 150-epoch run), serves
both, and times four operations as a browser's requests, each on a new connection:

- runs list: the project's /experiments/ | MLflow's runs/search (100 runs)
- compare 12 runs: /experiments/compare/ | runs/search of the 12 + 2 metric histories each
- a run page alone: /experiments/runs/<id>/ | runs/get
- a run with its figures and metrics APIs: the page + /api/jobs/<id>/figures/ + metrics/ |
  runs/get + the history of each of its 5 metrics

Blocks alternate A B B A at each --concurrency; prints p95 per operation and the project ÷
MLflow ratio (< 1: the project is faster).

    .venv/bin/python bench/mlflow_peer.py [--runs 1000] [--repeat 40] [--concurrency 1,8]
    .venv/bin/python bench/mlflow_peer.py --smoke

Needs the package index once (pip install mlflow); see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import dashboard
from common import REPO, percentile
from guide_http import HOST, free_port
from pages import get, serve, workers

MLFLOW_VERSION = os.environ.get("MLFLOW_VERSION", "3.17.2")
VENV = REPO / "var" / "mlflow-venv"
METRICS = ["train_loss", "valid_loss", "valid_accuracy", "learning_rate", "seconds"]

# Runs in the MLflow venv: log the project's finished runs (JSON on stdin) into MLflow.
LOG_RUNS = """
import json, sys
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.create_experiment("dashboard-peer")
ids = {}
for run in json.load(sys.stdin):
    created = client.create_run(experiment, start_time=run["start"], run_name=run["name"])
    rid = created.info.run_id
    params = [Param(k, str(v)) for k, v in run["params"].items()]
    metrics = [Metric(k, v, run["start"] + step, step) for step, row in enumerate(run["epochs"])
               for k, v in row.items() if v is not None]
    for i in range(0, max(len(metrics), 1), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000], params=params if i == 0 else [])
    client.set_terminated(rid, RunStatus.to_string(RunStatus.FINISHED), end_time=run["end"])
    ids[run["id"]] = rid
print(json.dumps({"experiment": experiment, "runs": ids}))
"""


def ensure_mlflow() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "mlflow").exists():
        subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", f"mlflow=={MLFLOW_VERSION}",
             "psycopg2-binary"],
            check=True,
        )  # fmt: skip
    return python


def project_runs() -> list[dict]:
    from experiments.models import EpochMetric, TrainingJob

    rows: dict[int, list] = {}
    for job_id, *values in EpochMetric.objects.order_by("job", "phase", "epoch").values_list(
        "job_id", *METRICS
    ):
        rows.setdefault(job_id, []).append(dict(zip(METRICS, values, strict=True)))
    runs = []
    for job in TrainingJob.objects.filter(status__in=TrainingJob.FINISHED).order_by("id"):
        start = int(job.created_at.timestamp() * 1000)
        runs.append({
            "id": job.pk, "name": f"{job.library}-{job.architecture}-{job.pk}", "start": start,
            "end": start + 3_600_000, "epochs": rows.get(job.pk, []),
            "params": {"library": job.library, "architecture": job.architecture,
                       "lr1": job.lr1, "batch_size": job.batch_size, "seed": job.seed},
        })  # fmt: skip
    return runs


def post_json(port: int, path: str, body: dict) -> tuple[float, int]:
    import http.client

    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", path, json.dumps(body),
                     {"Content-Type": "application/json", "Connection": "close"})  # fmt: skip
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return time.perf_counter() - t0, response.status


def operations(ids: dict, mlflow_ids: dict, experiment: str, ports: dict) -> dict:
    """name -> (project operation, MLflow operation); each returns its HTTP statuses."""
    p, m = ports["project"], ports["mlflow"]
    big, compare = ids["big_id"], ids["compare_ids"]
    big_run = mlflow_ids[str(big)]
    compared = [mlflow_ids[str(i)] for i in compare if str(i) in mlflow_ids]
    history = "/api/2.0/mlflow/metrics/get-history?run_id={}&metric_key={}"

    def seq(*calls):
        return [call()[1] for call in calls]

    def search(extra: dict):
        body = {"experiment_ids": [experiment], "max_results": 100, **extra}
        return lambda: post_json(m, "/api/2.0/mlflow/runs/search", body)

    in_list = ", ".join(f"'{r}'" for r in compared)
    return {
        "runs list": (
            lambda: seq(lambda: get(p, "/experiments/")),
            lambda: seq(search({"order_by": ["attributes.start_time DESC"]})),
        ),
        f"compare {len(compare)} runs": (
            lambda: seq(lambda: get(p, "/experiments/compare/?ids=" + ",".join(map(str, compare)))),
            lambda: seq(
                search({"filter": f"attributes.run_id IN ({in_list})"}),
                *[
                    lambda r=r, k=k: get(m, history.format(r, k))
                    for r in compared
                    for k in ("valid_loss", "valid_accuracy")
                ],
            ),
        ),  # fmt: skip
        "a run page alone": (
            lambda: seq(lambda: get(p, f"/experiments/runs/{big}/")),
            lambda: seq(lambda: get(m, f"/api/2.0/mlflow/runs/get?run_id={big_run}")),
        ),
        "a run with its figures and metrics APIs": (
            lambda: seq(
                lambda: get(p, f"/experiments/runs/{big}/"),
                lambda: get(p, f"/api/jobs/{big}/figures/"),
                lambda: get(p, f"/api/jobs/{big}/metrics/"),
            ),
            lambda: seq(
                lambda: get(m, f"/api/2.0/mlflow/runs/get?run_id={big_run}"),
                *[lambda k=k: get(m, history.format(big_run, k)) for k in METRICS],
            ),
        ),
    }


def timed(operation) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    statuses = operation()
    return time.perf_counter() - t0, statuses


def serve_mlflow(python: Path, store: str, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [str(python), "-m", "mlflow", "server", "--backend-store-uri", store, "--host", HOST,
           "--port", str(port), "--workers", "2",
           "--gunicorn-opts", "--log-level warning"]  # gunicorn, as the project  # fmt: skip
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=tempfile.gettempdir(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
            raise SystemExit(f"mlflow server exited early (status {proc.returncode})")
        try:
            if get(port, "/health")[1] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("mlflow server did not answer /health within 120 s")


def tree_rss_mib(pid: int) -> float:
    from pages import rss_mib

    return rss_mib(pid) + sum(tree_rss_mib(child) for child in workers(pid))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=40, help="operations per block and side")
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="20 runs, a few operations")
    ap.add_argument("--seed", type=int, default=0)
    common.add_db_args(ap, "moocguide_mlflowpeer")
    common.add_json_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.repeat = min(args.runs, 20), min(args.repeat, 4)
    levels = [int(c) for c in args.concurrency.split(",")]
    python = ensure_mlflow()

    env = common.django_env(
        args, "bench-only-secret-key-not-for-production-8d3f1a", DJANGO_ALLOWED_HOSTS=HOST,
        # DRF's user throttle counts anonymous clients too: lift both.
        API_THROTTLE_ANON="100000000/minute", API_THROTTLE_USER="100000000/minute",
        CACHE_URL="locmem://", **common.PLAIN_HTTP_SETTINGS,
    )  # fmt: skip
    mlflow_db = args.db_name + "_mlflow"
    common.psql_admin(args, f'DROP DATABASE IF EXISTS "{mlflow_db}" WITH (FORCE)')
    common.psql_admin(args, f'CREATE DATABASE "{mlflow_db}"')
    store = common.db_url(args, mlflow_db).replace("postgres://", "postgresql+psycopg2://", 1)
    t0 = time.perf_counter()
    common.recreate_db(args, env)
    dashboard.django_setup(env)
    ids = dashboard.fill(args.runs, args.seed)
    runs = project_runs()
    logged = subprocess.run(
        [str(python), "-c", LOG_RUNS, store], input=json.dumps(runs), capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if logged.returncode != 0:
        sys.stderr.write(logged.stderr[-4000:])
        raise SystemExit("logging the runs into MLflow failed")
    logged = json.loads(logged.stdout.strip().splitlines()[-1])
    print(f"{len(runs)} finished runs in both, logged in {time.perf_counter() - t0:.0f} s")

    project = mlflow = None
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-peer-"))
    try:
        project, project_port = serve(args, {**env, "DJANGO_SETTINGS_MODULE": "pages_settings"},
                                      tmp / "project.log")  # fmt: skip
        mlflow, mlflow_port = serve_mlflow(python, store, tmp / "mlflow.log")
        ops = operations(ids, logged["runs"], logged["experiment"],
                         {"project": project_port, "mlflow": mlflow_port})  # fmt: skip
        bad: list[str] = []
        for name, pair in ops.items():  # warm-up: every operation twice per worker
            for side, op in zip(("project", "mlflow"), pair, strict=True):
                for _ in range(2 * args.workers):
                    bad += [f"{side} {name}: {s}" for s in timed(op)[1] if s != 200]
        samples: dict[tuple[str, str, int], list[float]] = {}
        for level in levels:
            for name, (a, b) in ops.items():
                for side, op in (("project", a), ("mlflow", b), ("mlflow", b), ("project", a)):
                    with ThreadPoolExecutor(level) as pool:
                        for seconds, statuses in pool.map(lambda _i, op=op: timed(op),
                                                          range(args.repeat)):  # fmt: skip
                            samples.setdefault((name, side, level), []).append(seconds * 1000)
                            bad += [f"{side} {name}: {s}" for s in statuses if s != 200]
        rss = {"project": tree_rss_mib(project.pid), "mlflow": tree_rss_mib(mlflow.pid)}
    finally:
        for proc in (project, mlflow):
            if proc is not None:
                common.stop_process_group(proc, timeout=15, kill_timeout=5)
        common.drop_or_keep_db(args, created=True, close_django=True)
        if not args.keep_db:
            common.psql_admin(args, f'DROP DATABASE IF EXISTS "{mlflow_db}" WITH (FORCE)')

    cols = ["operation"]
    for level in levels:
        cols += [f"project p95 c{level}", f"MLflow p95 c{level}", f"ratio c{level}"]
    rows, results = [], []
    for name in ops:
        row, result = [name], {"name": name}
        for level in levels:
            a = percentile(sorted(samples[(name, "project", level)]), 95)
            b = percentile(sorted(samples[(name, "mlflow", level)]), 95)
            row += [f"{a:.1f}", f"{b:.1f}", f"{a / b:.2f}"]
            result[str(level)] = {"project_p95_ms": a, "mlflow_p95_ms": b, "ratio": a / b}
        rows.append(row)
        results.append(result)
    print(common.machine_line(common.usable_cpus(), f"mlflow {MLFLOW_VERSION}",
                              f"{args.workers} workers each"))  # fmt: skip
    common.print_table(cols, rows)
    print(f"RSS of the serving processes: project {rss['project']:.0f} MiB, "
          f"MLflow {rss['mlflow']:.0f} MiB")  # fmt: skip
    if args.json:
        common.write_json(args.json, {"runs": len(runs), "results": results, "rss_mib": rss})
    if bad:
        print("non-200 answers:\n  " + "\n  ".join(sorted(set(bad))), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
