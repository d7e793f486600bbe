"""The API's exception handler: DRF's, with Django's untranslated 404 text replaced.

`get_object_or_404` raises Http404("No Mooc matches the given query."), which is neither
translated nor meant for the client; DRF's own NotFound says "Not found." in the request's
language. A 404 raised with our own (translated) message keeps it.
"""

from __future__ import annotations

import re

from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler

DJANGO_NOT_FOUND = re.compile(r"^No \w+ matches the given query\.$")


def api_exception_handler(exc, context):
    if isinstance(exc, Http404) and (not exc.args or DJANGO_NOT_FOUND.match(str(exc.args[0]))):
        exc = exceptions.NotFound()
    return exception_handler(exc, context)
