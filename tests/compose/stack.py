"""The running compose stack, as scripts/compose_stage.sh brought it up: HTTP to its web
service from this host, `docker` for the containers (exec, kill, start)."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import time
import zipfile

import requests

WEB = os.environ.get("COMPOSE_WEB_URL", "")
COMPOSE = shlex.split(os.environ.get("COMPOSE_CMD", "docker-compose"))
DOCKER = os.environ.get("DOCKER", "docker")
# Bounded waits, generous enough for a machine twice as slow as the 2-core CI box.
BUILD_WAIT = 600


def wait_for(predicate, timeout: float, message: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s: {message}")


def container(service: str) -> str:
    out = subprocess.run(
        [*COMPOSE, "ps", "-q", service], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out, f"no container for {service}"
    return out[0]


def docker(*args: str) -> str:
    return subprocess.run(
        [DOCKER, *args], check=True, capture_output=True, text=True, timeout=300
    ).stdout


def manage(service: str, code: str) -> str:
    """Run Python in a service's container with Django set up (`manage.py shell -c`)."""
    return docker("exec", container(service), "python", "manage.py", "shell", "-c", code)


def health(service: str) -> str:
    return docker("inspect", "-f", "{{.State.Health.Status}}", container(service)).strip()


def researcher(username: str, password: str) -> None:
    manage(
        "web",
        "from django.contrib.auth.models import User\n"
        "from experiments.roles import ensure_researchers_group\n"
        f"u, _ = User.objects.get_or_create(username={username!r})\n"
        f"u.set_password({password!r}); u.save()\n"
        "u.groups.add(ensure_researchers_group())\n",
    )


class Web:
    """A logged-in researcher: a session (forms, with CSRF) and an API token."""

    def __init__(self, username: str, password: str):
        self.http = requests.Session()
        login = self.http.get(f"{WEB}/accounts/login/", timeout=30)
        login.raise_for_status()
        answer = self.http.post(
            f"{WEB}/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self.csrf(login.text),
            },
            headers={"Referer": f"{WEB}/accounts/login/"},
            timeout=30,
        )
        assert answer.ok and "sessionid" in self.http.cookies, answer.text[:500]
        token = requests.post(
            f"{WEB}/api/token/", data={"username": username, "password": password}, timeout=30
        )
        assert token.status_code == 200, token.text
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Token {token.json()['token']}"

    @staticmethod
    def csrf(page: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def form(self, path: str, data: dict, files: dict | None = None) -> requests.Response:
        page = self.http.get(f"{WEB}{path}", timeout=30)
        page.raise_for_status()
        return self.http.post(
            f"{WEB}{path}",
            data={**data, "csrfmiddlewaretoken": self.csrf(page.text)},
            files=files,
            headers={"Referer": f"{WEB}{path}"},
            timeout=120,
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.api.get(f"{WEB}{path}", timeout=60, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.api.post(f"{WEB}{path}", timeout=60, **kwargs)

    def job(self, pk: int) -> dict:
        answer = self.get(f"/api/jobs/{pk}/")
        answer.raise_for_status()
        return answer.json()

    def finished(self, pk: int, timeout: float) -> dict:
        """Wait for the job to end, waiting out errors while a service restarts."""

        def ended():
            try:
                answer = self.get(f"/api/jobs/{pk}/")
            except requests.RequestException:
                return None
            if answer.status_code != 200:
                return None
            job = answer.json()
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        return wait_for(ended, timeout, f"job {pk} finished")


def digits_zip(classes: int = 3, per_class: int = 12) -> bytes:
    """The demo dataset (scikit-learn digits) as the zip a researcher would upload."""
    import tempfile
    from pathlib import Path

    from experiments.datasets.demo import write_digits

    with tempfile.TemporaryDirectory() as folder:
        write_digits(Path(folder), per_class=per_class, size=32, classes=classes)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(Path(folder).rglob("*.png")):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
