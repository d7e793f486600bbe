"""Error answers: JSON on the API, and 503 with Retry-After while the database, the job
queue or the S3 store is unreachable (a retry will work; a 500 would say the request itself
is at fault)."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError
from django.db import OperationalError as DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30


def _outage_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [DatabaseError, InterfaceError]
    try:
        from kombu.exceptions import OperationalError as BrokerError

        types.append(BrokerError)
    except ImportError:  # pragma: no cover - kombu comes with celery
        pass
    try:
        from redis.exceptions import ConnectionError as RedisDown
        from redis.exceptions import TimeoutError as RedisTimeout

        types += [RedisDown, RedisTimeout]
    except ImportError:  # pragma: no cover - redis comes with the requirements
        pass
    from experiments.storage import store_outage_errors

    return (*types, *store_outage_errors())  # the S3 store of datasets, models and uploads


def wants_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return request.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def service_unavailable(request: HttpRequest) -> HttpResponse:
    message = _(
        "A service this site needs (its database, job queue or file store) cannot be reached "
        "right now; try again in %(seconds)s seconds."
    ) % {"seconds": RETRY_AFTER_SECONDS}
    if wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    else:
        # Rendered without the request: context processors could need the database.
        html = loader.render_to_string("503.html", {"seconds": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage of a backing service is a 503; the rest a plain 500."""
    exc = sys.exc_info()[1]
    if exc is not None and isinstance(exc, _outage_types()):
        return service_unavailable(request)
    if wants_json(request):
        return JsonResponse({"detail": _("Server error; it has been logged.")}, status=500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """handler400: JSON on the API (a body too large, too many fields, a bad header)."""
    from django.core.exceptions import RequestDataTooBig

    if wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"detail": _("The request body is too large.")}, status=413)
        return JsonResponse({"detail": _("Bad request.")}, status=400)
    return defaults.bad_request(request, exception)
