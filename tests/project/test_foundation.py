"""Project foundation: deploy checks, compose wiring, pinned requirements, a real Celery worker."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    leaking = ("DJANGO_", "DATABASE_URL", "CELERY_")  # set by the test settings themselves
    clean = {k: v for k, v in os.environ.items() if not k.startswith(leaking)}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="a-long-random-production-secret-key-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="guide.example.org",
        APP_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_manage("check", APP_VAR_DIR=str(tmp_path), DJANGO_PRODUCTION="1")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_a_local_checkout_generates_its_secret_key_once(tmp_path):
    assert run_manage("check", APP_VAR_DIR=str(tmp_path)).returncode == 0
    key_file = tmp_path / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50 and oct(key_file.stat().st_mode)[-3:] == "600"
    assert run_manage("check", APP_VAR_DIR=str(tmp_path)).returncode == 0
    assert key_file.read_text() == key


def test_database_and_broker_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL)"
    )
    default = run_manage(
        "shell", "--no-imports", "-c", code, DJANGO_DEBUG="1", APP_VAR_DIR=str(tmp_path)
    )
    assert default.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]
    configured = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        DJANGO_DEBUG="1",
        APP_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://u@db:5432/x",
        CELERY_BROKER_URL="redis://r:6379/0",
    )
    assert configured.stdout.split() == ["django.db.backends.postgresql", "redis://r:6379/0"]


def test_compose_file_wires_the_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "s3", "web", "worker", "cpu-worker", "gpu-worker"} <= set(services)
    assert {"predict-worker", "flower"} <= set(services)
    gpu = services["gpu-worker"]
    # Several jobs per GPU: the concurrency comes from GPU_JOBS_PER_WORKER (or free memory).
    assert "-Q gpu" in gpu["command"] and "--jobs-per-gpu" in gpu["command"]
    assert gpu["profiles"] == ["gpu"] and gpu["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["environment"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert gpu["environment"]["GPU_JOBS_PER_WORKER"].startswith("${GPU_JOBS_PER_WORKER")
    assert gpu["shm_size"] and gpu["stop_grace_period"] and gpu["healthcheck"]["test"]
    assert gpu["build"]["args"]["REQUIREMENTS"] == "requirements-gpu.txt"
    # Training jobs are routed to the `gpu` queue: the CPU worker serves it too.
    assert "-Q gpu" in services["cpu-worker"]["command"]
    assert services["cpu-worker"]["build"]["args"]["REQUIREMENTS"] == "requirements-worker-cpu.txt"
    assert "-Q predict" in services["predict-worker"]["command"]
    assert "--beat" in services["worker"]["command"]
    assert "flower" in services["flower"]["command"] and services["flower"]["healthcheck"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis.sh" in services["redis"]["command"]
    assert "--appendonly yes" in (ROOT / "scripts/docker/redis.sh").read_text()
    assert "gunicorn" in services["web"]["command"]
    assert services["web"]["ports"] == ["${WEB_PUBLISH:-8000}:8000"]
    assert services["web"]["build"]["args"]["BASE_IMAGE"].startswith("${BASE_IMAGE:-python:3.11")
    for name in ("web", "worker", "cpu-worker", "predict-worker", "gpu-worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert env["S3_ENDPOINT_URL"] == "http://s3:8333"
        assert {"S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_REGION"} <= set(env)
        assert {"postgres", "redis", "s3"} <= set(services[name]["depends_on"])
        assert services[name].get("healthcheck"), name
    # No volume shared between web and any worker: files travel through the S3 store.
    assert "volumes" not in services["web"]
    for name in ("worker", "cpu-worker", "predict-worker", "gpu-worker"):
        assert all(not v.startswith(("media", "/")) for v in services[name].get("volumes", []))
        assert services[name]["environment"]["WORKER_CACHE_DIR"] == "/cache"
    assert {"pgdata", "redisdata", "s3data"} <= set(compose["volumes"])


def test_worker_host_file_needs_only_broker_database_and_s3():
    compose = yaml.safe_load((ROOT / "worker-host.yml").read_text())
    worker = compose["services"]["cpu-worker"]
    env = worker["environment"]
    assert "@${MAIN_HOST:?set MAIN_HOST}:" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://${MAIN_HOST}:")
    assert "${MAIN_HOST}" in env["S3_ENDPOINT_URL"]
    assert "-Q gpu" in worker["command"] and "depends_on" not in worker
    assert worker["volumes"] == ["cpu-worker-cache:/cache"]


def test_requirements_pin_every_package_exactly():
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+\-]+", line) for line in lines), [
        line for line in lines if "==" not in line
    ]
    pins = {line.split("==")[0].lower(): line.split("==")[1] for line in lines}
    assert pins["django"].startswith("5.2.")
    assert pins["tensorflow"].startswith("2.21") and pins["keras"].startswith("3.")
    assert (pins["torch"], pins["torchvision"], pins["fastai"]) == ("2.14.1", "0.29.1", "2.8.12")
    for name in ["djangorestframework", "celery", "redis", "plotly", "psycopg2-binary"]:
        assert name in pins


def test_web_process_never_imports_tensorflow_or_torch(tmp_path):
    env = {"DJANGO_DEBUG": "1", "APP_VAR_DIR": str(tmp_path), "DJANGO_ALLOWED_HOSTS": "testserver"}
    assert run_manage("migrate", "--no-input", **env).returncode == 0
    pages = ["/", "/courses/", "/search/?q=dropout", "/api/courses/", "/experiments/",
             "/experiments/compare/", "/experiments/table-4-2/", "/api/jobs/"]  # fmt: skip
    code = (
        "import sys; from django.test import Client;"
        f"print([Client().get(u).status_code for u in {pages!r}]);"
        "print(sorted(m for m in ('tensorflow', 'torch', 'keras', 'fastai') if m in sys.modules))"
    )
    result = run_manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    statuses, imported = result.stdout.strip().splitlines()[-2:]
    assert statuses == str([200] * len(pages))
    assert imported == "[]"


@pytest.mark.slow
def test_a_real_celery_worker_consumes_from_redis(start_worker):
    from workers.tasks import ping

    start_worker(name="pingtest", queues="default", pool="prefork")  # answers control pings
    # A task sent to the default queue is consumed: its message leaves Redis.
    ping.apply_async(queue="default")
    import redis

    from tests.conftest import BROKER

    broker = redis.Redis.from_url(BROKER)
    deadline = time.monotonic() + 30
    while broker.llen("default") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert broker.llen("default") == 0


def test_spanish_interface_is_completely_translated():
    po = (ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = po.split("\n\n")[1:]  # the first block is the header
    untranslated = [
        e
        for e in entries
        if "#, fuzzy" in e
        or re.search(r'^msgstr(\[\d\])? ""\n?$', e.strip(), re.M)
        and not re.search(r'^msgstr(\[\d\])? ""\n"', e.strip(), re.M)
    ]
    assert not untranslated, untranslated[:3]
    from django.utils import translation

    with translation.override("es"):
        assert translation.gettext("Log out") == "Cerrar sesión"
        assert translation.gettext("Launch") != "Launch"
