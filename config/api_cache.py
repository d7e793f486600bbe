"""API answers kept as the JSON bytes DRF rendered, per content version.

A view names what its answer depends on (a content version, the client's role); the first 200
answer's bytes are stored once DRF has rendered them and later requests with the same key get
those bytes, without queries for the rows, serializers or the JSON renderer. Only the JSON
renderer's answers to GET are kept (the browsable API is rendered every time). Besides the
view's parts the key holds the absolute URL (pagination links name the host), the accepted
media type (`; indent=4` changes the bytes) and the language. The per-process "local" cache:
a restart drops answers made by older code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable

from django.core.cache import caches
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils import translation
from rest_framework.request import Request
from rest_framework.response import Response

KEPT_SECONDS = 3600


def kept_json(
    request: Request, parts: tuple[Hashable, ...], answer: Callable[[], HttpResponseBase]
) -> HttpResponseBase:
    """The kept bytes for this request and `parts`, or `answer()` (kept when it is a 200)."""
    renderer = getattr(request, "accepted_renderer", None)
    if request.method != "GET" or renderer is None or renderer.format != "json":
        return answer()
    raw = repr(
        (
            parts,
            request.accepted_media_type,
            translation.get_language(),
            request.build_absolute_uri(),
        )
    )
    key = "api-json:" + hashlib.sha256(raw.encode()).hexdigest()
    cache = caches["local"]
    kept = cache.get(key)
    if kept is not None:
        content, content_type = kept
        return HttpResponse(content, content_type=content_type)
    response = answer()
    if isinstance(response, Response) and response.status_code == 200:
        response.add_post_render_callback(
            lambda rendered: cache.set(
                key, (rendered.content, rendered["Content-Type"]), KEPT_SECONDS
            )
        )
    return response
