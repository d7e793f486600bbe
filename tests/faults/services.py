"""Private PostgreSQL and Redis servers that a test may kill and restart at will.

The shared services are never touched: each server here has its own data folder and free
port. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'} in {timeout}s")


class PrivatePostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8"]
        )  # fmt: skip
        self.start()

    def _run(self, args: list[str]) -> None:
        if self.as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/faults"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
             "-l", str(self.dir / "server.log"), "-w", "start"]
        )  # fmt: skip
        _wait_port(self.port, up=True)

    def stop(self, mode: str = "fast") -> None:
        """fast: clients are disconnected, like a restart; immediate: like a crash."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])
        _wait_port(self.port, up=False)

    def createdb(self, name: str) -> None:
        self._run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name])

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except Exception:  # already stopped
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """No persistence on purpose: a restart loses every queued message."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faults-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_port(self.port, up=True)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        _wait_port(self.port, up=False)

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
