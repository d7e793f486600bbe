"""CACHE_URL -> Django's cache settings (used by config/settings.py; the README lists the forms).

No helper library for cache URLs is a dependency (dj-database-url only parses databases), and
three forms need only a few lines.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

FILE = "django.core.cache.backends.filebased.FileBasedCache"
REDIS = "django.core.cache.backends.redis.RedisCache"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


def _refuse(problem: str, folder: Path) -> ImproperlyConfigured:
    # The value itself is not repeated: a Redis URL may carry a password.
    return ImproperlyConfigured(
        f"CACHE_URL {problem}. Accepted: redis://host:port/db or rediss://host:port/db (one "
        f"cache shared by every process that uses it), locmem:// (each process its own), or "
        f"unset for the file-based cache in {folder}."
    )


def cache_from_url(url: str | None, folder: Path) -> dict:
    """The settings of one cache for `url`; unset or empty gives a file-based cache in `folder`."""
    url = (url or "").strip()
    if not url:
        return {"BACKEND": FILE, "LOCATION": str(folder)}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        try:
            _ = parts.port  # ValueError when the port is not a number
        except ValueError:
            raise _refuse("has a port that is not a number", folder) from None
        if parts.path not in ("", "/") and not parts.path[1:].isdigit():
            raise _refuse(f"names Redis database {parts.path[1:]!r}, not a number", folder)
        return {"BACKEND": REDIS, "LOCATION": url}
    if scheme == "locmem" and not parts.path and not parts.query:
        return {"BACKEND": LOCMEM, "LOCATION": parts.netloc}
    shown = f"scheme {scheme!r}" if scheme else "no scheme"
    raise _refuse(f"has {shown}, which is not a cache this project knows", folder)
