"""Search over courses, lessons, topics and glossary terms (Postgres full text or SQLite fallback)."""

from .query import SearchHit, search

__all__ = ["SearchHit", "search"]
