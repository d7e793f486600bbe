"""Helpers shared by the benchmark scripts in bench/.

The scripts import it as ``common`` (they put bench/ on sys.path first), e.g.
``.venv/bin/python bench/guide_http.py``. It covers the throwaway PostgreSQL database, the
Django environment of a bench run, the command-line options they share, percentiles, the
machine line, plain-text tables and the JSON results file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"

# Production-like settings over plain HTTP on 127.0.0.1 (no TLS redirect, no secure cookies).
PLAIN_HTTP_SETTINGS = {
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SECURE_COOKIES": "0",
    "DJANGO_HSTS_SECONDS": "0",
    "DJANGO_STATIC_MANIFEST": "0",
    "LOG_LEVEL": "WARNING",
}


# --------------------------------------------------------------------------- arguments


def add_json_arg(ap: argparse.ArgumentParser) -> None:
    """Add --json PATH (write the results as JSON too)."""
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")


def add_db_args(ap: argparse.ArgumentParser, db_name: str) -> None:
    """Add --keep-db, --pg and --db-name (default db_name, + BENCH_DB_SUFFIX: runs side by
    side, e.g. two checkouts' `make test`, each get their own) for the throwaway database."""
    db_name += os.environ.get("BENCH_DB_SUFFIX", "")
    ap.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL")
    ap.add_argument("--db-name", default=db_name, help="database to (re)create")


def add_smoke_arg(ap: argparse.ArgumentParser) -> None:
    """Add --smoke: the smallest run (seconds to a minute, tiny data, targets not enforced).
    scripts/test.sh runs every bench so, so that one that stops working fails the suite."""
    ap.add_argument(
        "--smoke", action="store_true", help="smallest run: does it still work? (figures moot)"
    )


# --------------------------------------------------------------------------- environment


def db_url(args: argparse.Namespace, db_name: str | None = None) -> str:
    """URL of database db_name (default: the bench database) on the --pg server."""
    return f"{args.pg.rstrip('/')}/{db_name or args.db_name}"


def django_env(
    args: argparse.Namespace, secret_key: str, *, inherit: bool = True, **extra: str
) -> dict[str, str]:
    """Environment of a bench run on the bench database: os.environ (if inherit) + extra."""
    env = dict(os.environ) if inherit else {}
    env.update(
        {
            "DATABASE_URL": db_url(args),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secret_key,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


# --------------------------------------------------------------------------- database


def psql_admin(args: argparse.Namespace, sql: str) -> None:
    """Run one statement against the maintenance database (autocommit)."""
    url = db_url(args, "postgres")
    try:
        import psycopg2
    except ImportError:
        if not shutil.which("psql"):
            raise SystemExit("Need psycopg2 (run with .venv/bin/python) or psql on PATH.") from None
        subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True)
        return
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def psql_query(args: argparse.Namespace, sql: str, db_name: str | None = None) -> list[tuple]:
    """Rows of one query on the bench database (or db_name); [] on any error."""
    try:
        import psycopg2

        conn = psycopg2.connect(db_url(args, db_name))
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()
    except Exception:
        return []


def drop_db(args: argparse.Namespace) -> None:
    """Drop the bench database if it exists (closing its connections)."""
    psql_admin(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


def manage(env: dict[str, str], *cmd: str) -> None:
    """Run manage.py cmd in env; on failure print its output tail and exit."""
    proc = subprocess.run(
        [PYTHON, "manage.py", *cmd],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"manage.py {cmd[0]} failed (exit {proc.returncode})")


MIGRATE = ("migrate", "--noinput", "-v", "0")


def recreate_db(
    args: argparse.Namespace, env: dict[str, str], commands: Iterable[Sequence[str]] = (MIGRATE,)
) -> None:
    """Drop and create the bench database, then run the manage.py commands (default: migrate).

    With BENCH_DB_TEMPLATE set (scripts/test.sh's smoke stage), the database is copied from
    that template, migrated once by the first bench that needs it (a migrate costs ~50 s on a
    busy 2-core machine; a copy, a second); the caller drops the template."""
    drop_db(args)
    template = os.environ.get("BENCH_DB_TEMPLATE")
    if template and MIGRATE in [tuple(c) for c in commands]:
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{template}'"
        if not psql_query(args, exists, "postgres"):
            psql_admin(args, f'CREATE DATABASE "{template}"')
            manage({**env, "DATABASE_URL": db_url(args, template)}, *MIGRATE)
        psql_admin(args, f'CREATE DATABASE "{args.db_name}" TEMPLATE "{template}"')
        commands = [c for c in commands if tuple(c) != MIGRATE]
    else:
        psql_admin(args, f'CREATE DATABASE "{args.db_name}"')
    for cmd in commands:
        manage(env, *cmd)


def drop_or_keep_db(args: argparse.Namespace, created: bool, close_django: bool = False) -> None:
    """End of a run: close this process's Django connections (if close_django), then drop the
    bench database unless --keep-db (then say where it is)."""
    if close_django and "django" in sys.modules:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
    if created and not args.keep_db:
        try:
            drop_db(args)
        except Exception as exc:
            print(f"could not drop {args.db_name}: {exc}", file=sys.stderr)
    elif args.keep_db:
        print(f"kept database {db_url(args)}")


# --------------------------------------------------------------------------- processes


def stop_process_group(
    proc: subprocess.Popen | None, timeout: float, kill_timeout: float | None = None
) -> None:
    """SIGTERM proc; after timeout s SIGKILL its process group (started with
    start_new_session=True by the bench, so only its own processes)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=kill_timeout)


# --------------------------------------------------------------------------- reporting


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values)))) - 1
    return sorted_values[k]


def usable_cpus() -> int | None:
    """CPUs this process may run on (affinity), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def machine_line(nproc: object, *versions: str, load: float | None = None, note: str = "") -> str:
    """'machine: nproc=N, python X, <versions>, load average L<note>' (L: now if not given)."""
    load = os.getloadavg()[0] if load is None else load
    parts = [f"nproc={nproc}", f"python {platform.python_version()}", *versions]
    return "machine: " + ", ".join([*parts, f"load average {load:.2f}"]) + note


def print_table(
    cols: Sequence[str], rows: Sequence[Sequence[str]], left: Iterable[int] = (0,)
) -> None:
    """Print rows under cols, columns padded; the left columns left-aligned, others right."""
    left = set(left)
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(("{:<%d}" if i in left else "{:>%d}") % w for i, w in enumerate(widths))
    print(fmt.format(*cols))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))


def write_json(path: Path, payload: Any, **dumps_kwargs: Any) -> None:
    """Write payload as indented JSON to path (creating its folder) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, **dumps_kwargs) + "\n")
    print(f"results written to {path}")
