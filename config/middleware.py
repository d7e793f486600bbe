"""Request guards that answer 400 before a view can turn hostile input into a 500."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
        return True
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return True
    return False


class RejectHostileInputMiddleware:
    """NUL bytes in the path or query (PostgreSQL cannot store them) get a 400 with a message.

    Form bodies are checked too when they are urlencoded: NUL can never be a valid value here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad = _has_nul(request)
        if not bad and request.method == "POST":
            content_type = request.META.get("CONTENT_TYPE", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
                try:
                    bad = any(
                        "\x00" in k or any("\x00" in v for v in vs)
                        for k, vs in request.POST.lists()
                    )
                except Exception:  # body unreadable or too big: let Django answer 400 later
                    bad = False
            elif content_type.startswith("application/json"):
                try:
                    bad = b"\\u0000" in request.body or b"\x00" in request.body
                except Exception:  # too big: Django's own check answers 400
                    bad = False
        if bad:
            return HttpResponseBadRequest(
                _("The request contains a NUL character, which no field accepts."),
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
