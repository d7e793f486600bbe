from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("courses", views.MoocViewSet, basename="course")
router.register("programmes", views.ProgrammeViewSet, basename="programme")
router.register("units", views.UnitViewSet, basename="unit")
router.register("topics", views.TopicViewSet, basename="topic")
router.register("cross-references", views.CrossReferenceViewSet, basename="crossreference")
router.register("glossary", views.GlossaryViewSet, basename="glossaryterm")

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="api-search"),
    path("", include(router.urls)),
]
