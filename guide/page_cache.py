"""Whole guide pages kept for visitors without a session, per content version and language.

The guide's pages change only when an admin edits the content, and every such edit rebuilds the
search index (guide/signals.py), which changes its version: pages are keyed by that version, so
a kept page is never stale. Visitors with a session (logged in, ticked units, messages) get a
freshly rendered page. The per-process "local" cache: a restart drops pages of older templates.
"""

import hashlib
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse

from .models.bilingual import current_language
from .search.query import index_version

PAGE_SECONDS = 3600


def page_key(request: HttpRequest) -> str | None:
    """The cache key of this request's page, or None when it must be rendered for the visitor."""
    if request.method != "GET" or request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        return None
    if get_messages(request):
        return None
    digest = hashlib.sha1(request.get_full_path().encode()).hexdigest()
    return f"guide-page:{index_version()}:{current_language()}:{digest}"


def kept_for_visitors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a kept copy of the page to visitors without a session; keep 200 answers."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = page_key(request)
        if key is not None:
            kept = caches["local"].get(key)
            if kept is not None:
                return HttpResponse(kept)
        response = view(request, *args, **kwargs)
        if key is not None and response.status_code == 200 and not response.streaming:
            caches["local"].set(key, response.content, PAGE_SECONDS)
        return response

    return wrapped
