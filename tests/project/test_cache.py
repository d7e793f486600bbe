"""CACHE_URL, and API throttle counts shared by separate processes (as gunicorn workers are)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml
from django.core.exceptions import ImproperlyConfigured

from config.cache_url import FILE, LOCMEM, REDIS, cache_from_url
from tests.conftest import BROKER, ROOT

FOLDER = Path("/srv/app/var/cache")


@pytest.mark.parametrize(
    "url, backend, location",
    [
        (None, FILE, str(FOLDER)),
        ("", FILE, str(FOLDER)),
        ("redis://127.0.0.1:6379/1", REDIS, "redis://127.0.0.1:6379/1"),
        ("rediss://:pw@cache.example:6380/2", REDIS, "rediss://:pw@cache.example:6380/2"),
        ("redis://redis", REDIS, "redis://redis"),
        ("locmem://", LOCMEM, ""),
    ],
)
def test_each_accepted_cache_url_gives_its_backend(url, backend, location):
    assert cache_from_url(url, FOLDER) == {"BACKEND": backend, "LOCATION": location}


@pytest.mark.parametrize(
    "url, problem",
    [
        ("memcached://127.0.0.1:11211", "scheme 'memcached'"),
        ("file:///tmp/cache", "scheme 'file'"),
        ("127.0.0.1:6379", "no scheme"),
        ("redis://:s3cret@127.0.0.1:port/1", "port that is not a number"),
        ("redis://:s3cret@127.0.0.1:6379/one", "database 'one', not a number"),
        ("locmem://x/y", "scheme 'locmem'"),
    ],
)
def test_a_bad_cache_url_names_the_accepted_forms(url, problem):
    with pytest.raises(ImproperlyConfigured) as refused:
        cache_from_url(url, FOLDER)
    message = str(refused.value)
    assert message.startswith("CACHE_URL ") and problem in message
    assert "redis://host:port/db" in message and "locmem://" in message and str(FOLDER) in message
    assert "s3cret" not in message


def child_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """The production settings (config.settings) in a fresh process: no test settings leak in."""
    leaking = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "API_THROTTLE_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(leaking)}
    clean.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_VAR_DIR=str(tmp_path),
        # The request never reaches a database; if it did, this empty one would say so.
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="testserver",
        **env,
    )
    return clean


def test_settings_read_cache_url_and_refuse_a_bad_one(tmp_path):
    code = "from django.conf import settings as s; print(s.CACHES['default']['BACKEND'])"
    code += "; print(s.CACHES['default']['LOCATION'], s.CACHES['local']['BACKEND'])"

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
            cwd=ROOT,
            env=child_env(tmp_path, **env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run().stdout.split() == [FILE, str(tmp_path / "cache"), LOCMEM]
    assert run(CACHE_URL="redis://r:6379/1").stdout.split() == [REDIS, "redis://r:6379/1", LOCMEM]
    bad = run(CACHE_URL="memcached://m:11211")
    assert bad.returncode != 0
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: CACHE_URL has scheme")


# Two requests to the API root, from a new process; prints the status codes.
REQUESTS = """
import os
import django
from django.conf import settings

if os.environ.get("TEST_KEY_PREFIX"):
    settings.CACHES["default"]["KEY_PREFIX"] = os.environ["TEST_KEY_PREFIX"]
django.setup()
from django.test import Client

client = Client()
print(" ".join(str(client.get("/api/").status_code) for _ in range(2)))
"""


def two_requests_from_a_new_process(env: dict[str, str]) -> list[int]:
    result = subprocess.run(
        [sys.executable, "-c", REQUESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [int(code) for code in result.stdout.split()]


def first_and_second_process(tmp_path: Path, **env: str) -> tuple[list[int], list[int]]:
    """Three anonymous requests a day allowed; one process sends two, then another two."""
    env = child_env(tmp_path, API_THROTTLE_ANON="3/day", **env)
    return two_requests_from_a_new_process(env), two_requests_from_a_new_process(env)


def test_by_default_processes_share_the_throttle_count_in_var_cache(tmp_path):
    first, second = first_and_second_process(tmp_path)
    assert first == [200, 200]
    assert second == [200, 429]  # the third request of the day, then throttled
    assert any((tmp_path / "cache").iterdir())


def test_a_per_process_cache_would_let_each_process_allow_the_full_rate(tmp_path):
    # What the default cache used to be (Django's LocMemCache): the test above would fail so.
    first, second = first_and_second_process(tmp_path, CACHE_URL="locmem://")
    assert first == [200, 200] and second == [200, 200]


def test_processes_share_the_throttle_count_in_redis(tmp_path):
    # The local Redis, in a database of this checkout's own (its broker database + 8), under a
    # key prefix of this test's own; only those keys are deleted.
    broker = urlsplit(BROKER)
    database = (int(broker.path.lstrip("/") or 0) + 8) % 16
    url = f"redis://{broker.netloc}/{database}"
    prefix = f"test-cache-{uuid.uuid4().hex}"
    server = redis.Redis.from_url(url)
    try:
        first, second = first_and_second_process(tmp_path, CACHE_URL=url, TEST_KEY_PREFIX=prefix)
        assert first == [200, 200]
        assert second == [200, 429]
        keys = sorted(key.decode() for key in server.scan_iter(f"{prefix}:*"))
        # Anonymous clients count against both throttles (the user one keys them by address).
        assert keys == [f"{prefix}:1:throttle_{scope}_127.0.0.1" for scope in ("anon", "user")]
        assert not (tmp_path / "cache").exists()
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)
        server.close()


def test_compose_web_shares_a_redis_cache_apart_from_the_broker():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["web"]["environment"]
    cache, broker = urlsplit(env["CACHE_URL"]), urlsplit(env["CELERY_BROKER_URL"])
    assert cache.scheme == "redis" and cache.netloc == broker.netloc == "redis:6379"
    assert cache.path != broker.path


@pytest.mark.django_db
def test_throttles_fail_open_while_the_cache_redis_is_down(client, settings, caplog):
    """A Redis outage must not turn every API request into a 500: requests are served
    unthrottled (and logged) until the cache is back, then counted again."""
    from tests.faults.services import PrivateRedis

    server = PrivateRedis()  # our own redis-server: killing it touches nothing shared
    try:
        settings.CACHES = {
            **settings.CACHES,
            "default": {"BACKEND": REDIS, "LOCATION": server.url, "KEY_PREFIX": "fail-open"},
        }
        settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "1000/minute"}
        assert [client.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 429]

        server.kill()
        assert [client.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 200]
        assert "API throttle skipped: its cache is unreachable" in caplog.text

        server.start()  # no persistence: the counts start again
        assert [client.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        server.destroy()
