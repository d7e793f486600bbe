"""Where a `next` parameter may send the visitor: a URL on this site, or the default."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    """`target` when it is a URL on this site that a Location header can carry, else `default`.

    Always a URL, never a view name: `redirect("foo")` would try to reverse "foo" and fail."""
    if not target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    try:
        target.encode("utf-8")  # a lone surrogate cannot go into a header
    except UnicodeEncodeError:
        return default
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    if not target.startswith(("/", "http://", "https://")):
        return default  # "plan", "guide:plan", "?x": not a path of this site
    return target


def redirect_to_next(
    request: HttpRequest, target: str | None, default: str
) -> HttpResponseRedirect:
    return HttpResponseRedirect(safe_next(request, target, default))
