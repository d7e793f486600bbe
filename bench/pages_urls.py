"""URLconf of bench/pages.py: the project's pages, plus a trivial view to compare them with.

The trivial view goes through the same middleware as every page (sessions, locale, CSP, ...).
"""

from django.http import HttpResponse
from django.urls import include, path


def trivial(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench-trivial/", trivial), path("", include("config.urls"))]
