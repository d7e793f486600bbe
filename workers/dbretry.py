"""Riding out a short database outage (a restart, a failover) instead of failing a job."""

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
    deadline = time.monotonic() + limit
    delay = 0.5
    while True:
        try:
            return func()
        except DB_ERRORS as exc:
            if connection.in_atomic_block:
                raise
            drop_connection()
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(f"database unreachable while {what}: {exc}") from exc
            logger.warning("database unreachable while %s; retrying in %.1f s", what, delay)
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
