"""Input checks shared by views and the API: ids in the database's range, clean strings."""

from __future__ import annotations

import re

from django import forms
from django.db import models
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


class AsciiDecimalField(forms.DecimalField):
    def to_python(self, value):
        refuse_non_ascii_digits(value)
        return super().to_python(value)


def ascii_form_class(db_field) -> type[forms.Field] | None:
    """The 0-9-only form field for a model number field; None for any other field."""
    if db_field.choices or db_field.is_relation:
        return None
    for model_class, form_class in (
        (models.DecimalField, AsciiDecimalField),
        (models.FloatField, AsciiFloatField),
        (models.IntegerField, AsciiIntegerField),
    ):
        if isinstance(db_field, model_class):
            return form_class
    return None


def ascii_number_formfield(db_field, **kwargs) -> forms.Field | None:
    """A ModelForm's formfield_callback: number fields take 0-9 only."""
    kwargs.setdefault("form_class", ascii_form_class(db_field) or kwargs.get("form_class"))
    if kwargs["form_class"] is None:
        del kwargs["form_class"]
    return db_field.formfield(**kwargs)


class AsciiNumbersAdmin:
    """For ModelAdmins and inlines: the admin's own forms take 0-9 only in number fields."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        form_class = ascii_form_class(db_field)
        if form_class is not None:
            kwargs.setdefault("form_class", form_class)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class _AsciiNumber:
    """DRF number fields read '١٢' too (int(), float(), Decimal()): 0-9 only, as in the forms."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return super().to_internal_value(data)


class AsciiIntegerSerializerField(_AsciiNumber, serializers.IntegerField):
    pass


class AsciiFloatSerializerField(_AsciiNumber, serializers.FloatField):
    pass


class AsciiDecimalSerializerField(_AsciiNumber, serializers.DecimalField):
    pass


class AsciiPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    def to_internal_value(self, data):
        if isinstance(data, str) and not data.isascii():
            self.fail("incorrect_type", data_type="str")
        return super().to_internal_value(data)


_ASCII_SERIALIZER_FIELDS = {
    serializers.IntegerField: AsciiIntegerSerializerField,
    serializers.FloatField: AsciiFloatSerializerField,
    serializers.DecimalField: AsciiDecimalSerializerField,
}


class AsciiModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose generated number fields (and primary keys) take 0-9 only."""

    serializer_field_mapping = {
        model_field: _ASCII_SERIALIZER_FIELDS.get(field, field)
        for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
    }
    serializer_related_field = AsciiPrimaryKeyRelatedField
