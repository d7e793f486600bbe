"""Input checks shared by views and the API: ids in the database's range, clean strings."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext as _
from rest_framework import serializers

MAX_DB_ID = 2**63 - 1  # BigAutoField
MAX_DB_INT = 2**31 - 1  # IntegerField / PositiveIntegerField
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def is_db_id(value) -> bool:
    """True for a plain ASCII positive integer that fits a database id (not '²', not 10**400)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return 0 < value <= MAX_DB_ID
    text = str(value)
    return bool(_ASCII_DIGITS.fullmatch(text)) and 0 < int(text) <= MAX_DB_ID


def refuse_non_ascii_digits(value) -> None:
    """int() and float() read '١٢' (Arabic-Indic) or '٣.٥' as numbers: 0-9 only."""
    if isinstance(value, str) and not value.isascii():
        raise forms.ValidationError(_("Use the digits 0-9."), code="invalid")


class AsciiIntegerField(forms.IntegerField):
    def to_python(self, value):
        refuse_non_ascii_digits(value)
        return super().to_python(value)


class AsciiFloatField(forms.FloatField):
    def to_python(self, value):
        refuse_non_ascii_digits(value)
        return super().to_python(value)


class AsciiIntegerSerializerField(serializers.IntegerField):
    """The API's integers: 0-9 only, as in the forms."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return super().to_internal_value(data)
