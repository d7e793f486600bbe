"""The anonymous API throttle against a forged, rotating X-Forwarded-For (issue 17).

    .venv/bin/python bench/throttle_forwarded.py [--requests 300] [--rate 60/minute]

Production-like: gunicorn (2 workers), DJANGO_DEBUG=0, its own redis-server holding the
throttle counts (CACHE_URL), a throwaway SQLite database. Each request names a new client
address in X-Forwarded-For. With NUM_PROXIES=0 (gunicorn exposed directly) the header is
ignored, so only `rate` requests are served; the row for NUM_PROXIES=1 shows what trusting
the header would allow (one proxy in front that is not there: every address is new).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")
GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def served(port: int, count: int) -> dict[int, int]:
    codes: dict[int, int] = {}
    for i in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/courses/",
            headers={"X-Forwarded-For": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=180) as answer:
                code = answer.status
        except urllib.error.HTTPError as error:
            code = error.code
        codes[code] = codes.get(code, 0) + 1
    return codes


def run(num_proxies: int, args, base_env: dict, tmp: Path) -> dict[int, int]:
    redis_port, web_port = free_port(), free_port()
    cache = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    env = {
        **base_env,
        "NUM_PROXIES": str(num_proxies),
        "CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    web = subprocess.Popen(
        [GUNICORN, "config.wsgi", "-b", f"127.0.0.1:{web_port}", "-w", "2", "--log-level",
         "warning"],
        cwd=REPO, env=env,
    )  # fmt: skip
    try:
        wait_port(web_port)
        return served(web_port, args.requests)
    finally:
        web.terminate()
        web.wait(timeout=30)
        cache.terminate()
        cache.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rate", default="60/minute")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="throttle-bench-"))
    base_env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_STATIC_MANIFEST": "0",
        "APP_VAR_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "API_THROTTLE_ANON": args.rate,
        "LOG_LEVEL": "ERROR",
    }
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=base_env, check=True)
    try:
        print(f"{args.requests} anonymous GET /api/courses/, a new X-Forwarded-For each, "
              f"throttle {args.rate}")  # fmt: skip
        for num_proxies in (0, 1):
            codes = run(num_proxies, args, base_env, tmp)
            print(f"  NUM_PROXIES={num_proxies}: served {codes.get(200, 0)}, "
                  f"throttled (429) {codes.get(429, 0)}, other {codes}")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
