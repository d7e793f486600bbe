"""Input checks shared by views and the API: ids in the database's range, clean strings."""

from __future__ import annotations

import re

MAX_DB_ID = 2**63 - 1  # BigAutoField
MAX_DB_INT = 2**31 - 1  # IntegerField / PositiveIntegerField
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def is_db_id(value) -> bool:
    """True for a plain ASCII positive integer that fits a database id (not '²', not 10**400)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return 0 < value <= MAX_DB_ID
    text = str(value)
    return bool(_ASCII_DIGITS.fullmatch(text)) and 0 < int(text) <= MAX_DB_ID
