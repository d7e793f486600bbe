"""Riding out a short outage of the database or the object store (a restart, a failover)
instead of failing a job."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")
DB_ERRORS = (OperationalError, InterfaceError)


class DatabaseUnavailable(Exception):
    """The database stayed unreachable for longer than allowed."""


class StoreUnavailable(Exception):
    """The object store stayed unreachable for longer than allowed."""


def drop_connection() -> None:
    """Forget a broken connection; Django opens a fresh one on the next query."""
    try:
        connection.close()
    except Exception:  # already broken: nothing to close cleanly
        pass


def with_db_retry(func: Callable[[], T], what: str, limit: float | None = None) -> T:
    """func(); while the database is unreachable, reconnect with backoff for up to `limit`
    seconds (JOB_DB_OUTAGE_SECONDS by default), then raise DatabaseUnavailable."""
    limit = settings.JOB_DB_OUTAGE_SECONDS if limit is None else limit

    def may_retry(exc: BaseException) -> bool:
        if connection.in_atomic_block:
            return False
        drop_connection()
        return True

    return _retry(func, what, DB_ERRORS, limit, may_retry, DatabaseUnavailable, "database")


def with_store_retry(func: Callable[[], T], what: str, limit: float | None = None) -> T:
    """func(); while the object store (S3) is unreachable, retry with backoff for up to
    `limit` seconds (JOB_STORE_OUTAGE_SECONDS by default), then raise StoreUnavailable. A
    worker fetching a dataset or storing a model rides out a restart of the store."""
    from experiments.storage import is_store_outage

    limit = settings.JOB_STORE_OUTAGE_SECONDS if limit is None else limit
    return _retry(func, what, Exception, limit, is_store_outage, StoreUnavailable, "file store")


def _retry(func, what, errors, limit, may_retry, unavailable, service):
    """func() until it works, retrying `errors` for which may_retry(exc) holds."""
    deadline = time.monotonic() + limit
    delay = 0.5
    while True:
        try:
            return func()
        except errors as exc:
            if not may_retry(exc):
                raise
            if time.monotonic() >= deadline:
                raise unavailable(f"{service} unreachable while {what}: {exc}") from exc
            logger.warning("%s unreachable while %s; retrying in %.1f s", service, what, delay)
            _note_alive()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _note_alive() -> None:
    """In a job's child: waiting for the database is not a hang (see the stall watchdog)."""
    progress = os.environ.get("JOB_PROGRESS_FILE")
    if progress and os.path.exists(progress):
        try:
            os.utime(progress)
        except OSError:
            pass
