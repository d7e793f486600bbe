"""Test settings: production-like (DEBUG off) but over plain HTTP, against the local Postgres.

The search tests also run on SQLite: `DATABASE_URL=sqlite:///... pytest -m search`.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/moocguide")
os.environ.setdefault(
    "CELERY_BROKER_URL", os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
)
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("DJANGO_HSTS_SECONDS", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "*")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Throttles far above what the suite sends; the throttle test lowers them itself.
API_THROTTLE_RATES = {"anon": "100000/minute", "user": "100000/minute"}

# Each test process caches in its own memory, whatever CACHE_URL says: throttle counts and cache
# entries die with the process, so a run never sees a previous run's (or another xdist worker's)
# leftovers, and a test's cache.clear() can never empty a cache that something else uses. The
# shared backends are tested in child processes (tests/project/test_cache.py).
CACHES["default"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}  # noqa: F405
