"""Search over courses, lessons, topics and glossary terms.

Postgres full text, or a Python fallback on SQLite.
"""

from .query import SearchHit, search

__all__ = ["SearchHit", "search"]
