"""One API root: the guide (read-only) and the experiments (jobs)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from config.auth_views import obtain_expiring_token
from experiments.jobs.api import JobViewSet
from experiments.research.api import (
    ImagePredictionView,
    JobPredictionsView,
    JobPredictView,
    PairedCompareView,
    StudyViewSet,
)
from guide.api.urls import register as register_guide

router = DefaultRouter()
register_guide(router)
router.register("jobs", JobViewSet, basename="job")
router.register("studies", StudyViewSet, basename="study")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file: no inline JS under the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("token/", obtain_expiring_token, name="api-token"),
    path("jobs/<int:pk>/predictions/", JobPredictionsView.as_view(), name="job-predictions"),
    path("jobs/<int:pk>/predict/", JobPredictView.as_view(), name="job-predict"),
    path("image-predictions/<int:pk>/", ImagePredictionView.as_view(), name="api-image-prediction"),
    path("compare/paired/", PairedCompareView.as_view(), name="compare-paired"),
    path("", include("guide.api.urls")),
    path("", include(router.urls)),
]
