"""One API root: the guide (read-only) and the experiments (jobs)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from config.auth_views import obtain_expiring_token
from experiments.api import JobViewSet
from guide.api.urls import register as register_guide

router = DefaultRouter()
register_guide(router)
router.register("jobs", JobViewSet, basename="job")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file: no inline JS under the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("token/", obtain_expiring_token, name="api-token"),
    path("", include("guide.api.urls")),
    path("", include(router.urls)),
]
