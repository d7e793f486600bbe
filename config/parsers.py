"""JSON for the API with limits: a body too large (413), nested too deep or holding text that
is not valid Unicode (400), each with a message instead of a RecursionError's 500."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

MAX_DEPTH = 32  # the deepest real request (a study grid) nests 4 levels


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def check_depth_and_text(value, max_depth: int = MAX_DEPTH) -> None:
    """Walk the parsed value without recursion; refuse deep nesting and lone surrogates."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise ParseError(
                    _("The JSON is nested more than %(max)s levels deep.") % {"max": max_depth}
                )
            children = list(item.items()) if isinstance(item, dict) else item
            for child in children:
                stack.append((child, depth + (0 if isinstance(item, dict) else 1)))
        elif isinstance(item, tuple):  # a dict's (key, value): both at the dict's depth + 1
            stack.extend((part, depth + 1) for part in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError(
                    _("The JSON holds text that is not valid Unicode (a lone surrogate).")
                ) from None


def parse_json_bytes(raw: bytes, max_bytes: int) -> object:
    """Parse a JSON body within the limits (ParseError / RequestTooLarge otherwise)."""
    if len(raw) > max_bytes:
        raise RequestTooLarge(
            _("The request body is larger than %(max)s bytes.") % {"max": f"{max_bytes:,}"}
        )
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(
            _("The JSON is nested more than %(max)s levels deep.") % {"max": MAX_DEPTH}
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        # The message names a position, never echoes the text.
        raise ParseError(
            _("The body is not valid JSON (%(where)s).") % {"where": _where(exc)}
        ) from None
    check_depth_and_text(value)
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _where(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return _("line %(line)s, column %(column)s") % {"line": exc.lineno, "column": exc.colno}
    if isinstance(exc, UnicodeDecodeError):
        return _("it is not UTF-8")
    return _("not a JSON number")


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser with a size and depth limit (REST_FRAMEWORK DEFAULT_PARSER_CLASSES)."""

    def parse(self, stream, media_type=None, parser_context=None):
        max_bytes = settings.API_JSON_MAX_BYTES
        raw = stream.read(max_bytes + 1) if stream is not None else b""
        return parse_json_bytes(raw, max_bytes)


class SafeJSONRenderer(JSONRenderer):
    """Answers that echo input can hold text UTF-8 cannot carry (a lone surrogate from a
    `\\udcff` escape): those are written as JSON escapes instead of failing with a 500."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return json.dumps(data, cls=self.encoder_class, ensure_ascii=True).encode("ascii")
