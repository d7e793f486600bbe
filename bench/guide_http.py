#!/usr/bin/env python3
"""HTTP benchmark of the guide under gunicorn + PostgreSQL, all on 127.0.0.1.

Creates a throwaway database (moocguide_bench), migrates it, loads the guide content, starts
gunicorn on a free local port and drives it with an asyncio keep-alive load generator, one
endpoint after the other in the same run: a trivial DB-less view (the DRF API root), the
catalogue page, the HTML search page and the API search. Prints throughput and latency
percentiles, each relative to the trivial view, and whether the search latency target is met.

    .venv/bin/python bench/guide_http.py [--workers 2] [--clients 20] [--seconds 10]
        [--json out.json]

See bench/README.md. It is a benchmark, not a test: the exit status is 0 even when the target is
missed (1 only when the setup fails or a run sees errors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import REPO, VENV_BIN, percentile, psql_query

GUNICORN = str(VENV_BIN / "gunicorn") if (VENV_BIN / "gunicorn").exists() else "gunicorn"
HOST = "127.0.0.1"

# Realistic queries: English, Spanish, Spanish without accents, a typo, a term, a model name.
SEARCH_QUERIES = [
    ("transfer learning", "en"),
    ("red neuronal convolucional", "es"),
    ("regularizacion", "es"),
    ("convolutinal", "en"),
    ("dropout", "en"),
    ("aprendizaje por transferencia", "es"),
    ("ResNet", "en"),
    ("learning rate finder", "en"),
]


def endpoints() -> list[tuple[str, list[tuple[str, str]]]]:
    """(name, [(path, Accept-Language), ...]); requests cycle over the list. First = baseline."""
    return [
        ("trivial /api/", [("/api/", "en")]),
        ("catalogue /courses/", [("/courses/", "en")]),
        (
            "search /search/",
            [(f"/search/?q={quote(q)}", lang) for q, lang in SEARCH_QUERIES],
        ),
        (
            "api search /api/search/",
            [(f"/api/search/?q={quote(q)}", lang) for q, lang in SEARCH_QUERIES],
        ),
    ]


SEARCH_ENDPOINTS = ("search /search/", "api search /api/search/")


# --------------------------------------------------------------------------- environment


def bench_env(args) -> dict[str, str]:
    return common.django_env(
        args,
        "bench-only-secret-key-not-for-production-6f1c2a9e8d7b",
        DJANGO_ALLOWED_HOSTS=HOST,
        # The API's throttles (anonymous, and DRF's user one, which counts them too) would turn
        # a quiet machine's fast rounds into 429s: lift both, as pages.py does.
        API_THROTTLE_ANON="100000000/minute",
        API_THROTTLE_USER="100000000/minute",
        **common.PLAIN_HTTP_SETTINGS,
    )


def setup_db(args, env) -> None:
    t0 = time.perf_counter()
    common.recreate_db(args, env, (common.MIGRATE, ("load_guide",)))
    print(f"database {args.db_name}: migrated and loaded in {time.perf_counter() - t0:.1f} s")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(args, env, port: int, log_path: Path) -> subprocess.Popen:
    cmd = [
        GUNICORN,
        "config.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
    ]
    log = open(log_path, "wb")
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_gunicorn(proc: subprocess.Popen | None) -> None:
    # SIGTERM is graceful: the master stops its workers.
    common.stop_process_group(proc, timeout=15, kill_timeout=5)


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
            raise SystemExit(f"gunicorn exited early (status {proc.returncode})")
        try:
            status, _, _ = asyncio.run(fetch_once(port, "/api/", "en"))
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
    raise SystemExit("gunicorn did not answer 200 on /api/ within 30 s")


# --------------------------------------------------------------------------- HTTP client


def request_bytes(port: int, path: str, lang: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: guide-bench\r\n"
        f"Accept: */*\r\nAccept-Language: {lang}\r\nConnection: keep-alive\r\n\r\n"
    ).encode("ascii")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int, bool, bytes]:
    """Read one response: (status, body length, server wants close, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1])
    http10 = parts[0] == b"HTTP/1.0"
    length = None
    chunked = False
    close = http10
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            v = value.strip().lower()
            close = b"close" in v or (http10 and b"keep-alive" not in v)
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            chunks.append(await reader.readexactly(size + 2))
        body = b"".join(c[:-2] for c in chunks)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()  # until EOF
        close = True
    return status, len(body), close, body


async def fetch_once(port: int, path: str, lang: str) -> tuple[int, int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request_bytes(port, path, lang))
        status, n, _, body = await asyncio.wait_for(read_response(reader), 30)
        return status, n, body
    finally:
        writer.close()


@dataclass
class Result:
    endpoint: str
    paths: int
    requests: int = 0
    errors: int = 0
    ok: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_kib: float = 0.0
    connects: int = 0
    client_cpu_pct: float = 0.0
    p95_ratio: float | None = None
    rps_ratio: float | None = None
    error_samples: list[str] = field(default_factory=list)


async def load(port: int, name: str, targets: list[tuple[str, str]], args) -> Result:
    reqs = [request_bytes(port, p, lang) for p, lang in targets]
    loop = asyncio.get_running_loop()
    start = loop.time() + args.warmup
    end = start + args.seconds
    latencies: list[float] = []
    sizes = 0
    res = Result(endpoint=name, paths=len(targets))

    async def client(idx: int) -> None:
        nonlocal sizes
        reader = writer = None
        i = idx  # spread the query mix over clients
        while True:
            t0 = loop.time()
            if t0 >= end:
                break
            req = reqs[i % len(reqs)]
            i += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                    res.connects += 1
                writer.write(req)
                status, n, close, _ = await asyncio.wait_for(read_response(reader), 30)
                t1 = loop.time()
                if close:
                    writer.close()
                    reader = writer = None
                if t0 >= start and t1 <= end:
                    res.requests += 1
                    if status == 200:
                        latencies.append(t1 - t0)
                        sizes += n
                    else:
                        res.errors += 1
                        if len(res.error_samples) < 5:
                            res.error_samples.append(f"HTTP {status} {req.split(b' ')[1].decode()}")
            except (
                TimeoutError,
                OSError,
                asyncio.IncompleteReadError,
                ValueError,
            ) as exc:
                t1 = loop.time()
                if writer is not None:
                    writer.close()
                reader = writer = None
                if t0 >= start and t1 <= end:
                    res.requests += 1
                    res.errors += 1
                    if len(res.error_samples) < 5:
                        res.error_samples.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)  # no hot loop if the server is gone
        if writer is not None:
            writer.close()

    cpu0 = None

    async def cpu_mark():
        nonlocal cpu0
        await asyncio.sleep(max(0.0, start - loop.time()))
        r = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = r.ru_utime + r.ru_stime

    marker = asyncio.ensure_future(cpu_mark())
    await asyncio.gather(*(client(c) for c in range(args.clients)))
    await marker
    r = resource.getrusage(resource.RUSAGE_SELF)
    res.client_cpu_pct = 100 * (r.ru_utime + r.ru_stime - cpu0) / args.seconds

    latencies.sort()
    res.ok = len(latencies)
    res.rps = res.ok / args.seconds
    ms = [v * 1000 for v in latencies]
    res.p50_ms, res.p95_ms, res.p99_ms = (percentile(ms, q) for q in (50, 95, 99))
    res.max_ms = ms[-1] if ms else float("nan")
    res.mean_kib = sizes / res.ok / 1024 if res.ok else 0.0
    return res


async def check_queries(port: int) -> list[tuple[str, str, int | str]]:
    """One API search per query: its hit count (shows the queries exercise real results)."""
    out = []
    for q, lang in SEARCH_QUERIES:
        status, _, body = await fetch_once(port, f"/api/search/?q={quote(q)}", lang)
        hits: int | str = json.loads(body).get("count", "?") if status == 200 else f"HTTP {status}"
        out.append((q, lang, hits))
    return out


# --------------------------------------------------------------------------- reporting


def machine_info(args, env) -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = common.usable_cpus()
    pg_version = psql_query(args, "SHOW server_version")
    counts = {}
    for table in ("guide_mooc", "guide_unit", "guide_topic", "guide_glossaryterm"):
        rows = psql_query(args, f"SELECT count(*) FROM {table}")
        if rows:
            counts[table] = rows[0][0]
    try:
        import django

        django_version = django.get_version()
    except ImportError:
        django_version = "?"
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "loadavg_before": os.getloadavg(),
        "python": platform.python_version(),
        "django": django_version,
        "postgres": pg_version[0][0] if pg_version else "?",
        "gunicorn_workers": args.workers,
        "gunicorn_worker_class": args.worker_class,
        "gunicorn_threads": args.threads,
        "clients": args.clients,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "database": env["DATABASE_URL"],
        "rows": counts,
    }


def print_table(results: list[Result]) -> None:
    cols = (
        "endpoint",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p95 x",
        "req/s x",
        "KiB",
        "conns",
        "cli CPU%",
    )
    rows = [
        (
            r.endpoint,
            str(r.requests),
            str(r.errors),
            f"{r.rps:.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.p95_ratio:.2f}" if r.p95_ratio is not None else "-",
            f"{r.rps_ratio:.2f}" if r.rps_ratio is not None else "-",
            f"{r.mean_kib:.1f}",
            str(r.connects),
            f"{r.client_cpu_pct:.0f}",
        )
        for r in results
    ]
    common.print_table(cols, rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument(
        "--worker-class",
        default="gthread",
        help="gunicorn worker class (default gthread, as deployed)",
    )
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="measured seconds per endpoint (default 10)",
    )
    ap.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="warm-up seconds per endpoint (default 2)",
    )
    ap.add_argument(
        "--target-p95",
        type=float,
        default=25.0,
        help="search p95 target in ms (default 25)",
    )
    common.add_json_arg(ap)
    common.add_db_args(ap, "moocguide_bench")
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.workers, args.clients, args.seconds, args.warmup = 1, 2, 0.5, 0.1
    if not args.pg.startswith(("postgres://postgres@127.0.0.1", "postgresql://postgres@127.0.0.1")):
        print("note: --pg is not the default local server", file=sys.stderr)

    env = bench_env(args)
    proc = None
    log_dir = Path(tempfile.mkdtemp(prefix="guide-bench-"))
    log_path = log_dir / "gunicorn.log"
    db_created = False
    exit_code = 0
    try:
        db_created = True
        setup_db(args, env)
        port = free_port()
        proc = start_gunicorn(args, env, port, log_path)
        wait_ready(proc, port, log_path)
        info = machine_info(args, env)
        print(
            common.machine_line(
                f"{info['nproc']} ({info['cpu_model'] or '?'})",
                f"Django {info['django']}",
                f"PostgreSQL {info['postgres']}",
                load=info["loadavg_before"][0],
            )
        )
        print(
            f"server: gunicorn {args.worker_class} workers={args.workers}"
            + (f" threads={args.threads}" if args.threads > 1 else "")
            + f" on {HOST}:{port}; load: clients={args.clients}, "
            f"{args.warmup:g} s warm-up + {args.seconds:g} s per endpoint; data: "
            + ", ".join(f"{k.removeprefix('guide_')}={v}" for k, v in info["rows"].items())
        )
        checks = asyncio.run(check_queries(port))
        print(
            "search queries (API hits): "
            + "; ".join(f"{q!r} [{lang}] {h}" for q, lang, h in checks)
        )
        print("note: load generator, gunicorn and PostgreSQL share this machine's CPUs.")
        print()

        results: list[Result] = []
        for name, targets in endpoints():
            print(f"  running {name} ...", flush=True)
            results.append(asyncio.run(load(port, name, targets, args)))
        base = results[0]
        for r in results:
            if base.p95_ms > 0 and base.rps > 0:
                r.p95_ratio = r.p95_ms / base.p95_ms
                r.rps_ratio = r.rps / base.rps
        print()
        print_table(results)
        print(
            "(req/s and latencies over 200 responses only; "
            "'x' columns relative to the trivial view; "
            "conns = TCP connections opened, cli CPU% = load generator CPU)"
        )

        for r in results:
            if r.errors:
                exit_code = 1
                print(f"ERRORS {r.endpoint}: {r.errors}, e.g. {r.error_samples}")

        verdicts = {}
        print()
        for r in results:
            if r.endpoint in SEARCH_ENDPOINTS:
                met = r.errors == 0 and r.p95_ms <= args.target_p95
                verdicts[r.endpoint] = met
                print(
                    f"target search p95 <= {args.target_p95:g} ms at {args.clients} clients: "
                    f"{r.endpoint}: p95 {r.p95_ms:.1f} ms -> {'MET' if met else 'MISSED'}"
                )
        overall = all(verdicts.values())
        print(f"target overall: {'MET' if overall else 'MISSED'}")

        if args.json:
            payload = {
                "machine": info,
                "target": {
                    "search_p95_ms": args.target_p95,
                    "clients": args.clients,
                    "met": overall,
                    "per_endpoint": verdicts,
                },
                "search_queries": [{"q": q, "lang": lang, "api_hits": h} for q, lang, h in checks],
                "results": [asdict(r) for r in results],
                "baseline": base.endpoint,
            }
            common.write_json(args.json, payload)
    finally:
        stop_gunicorn(proc)
        if proc is not None and proc.returncode not in (0, None) and exit_code == 0:
            # A non-zero master exit after SIGTERM is unusual: show why.
            sys.stderr.write(log_path.read_text(errors="replace")[-2000:])
        common.drop_or_keep_db(args, db_created)
        shutil.rmtree(log_dir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
