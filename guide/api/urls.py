from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("courses", views.MoocViewSet, basename="course")
    router.register("programmes", views.ProgrammeViewSet, basename="programme")
    router.register("units", views.UnitViewSet, basename="unit")
    router.register("topics", views.TopicViewSet, basename="topic")
    router.register("cross-references", views.CrossReferenceViewSet, basename="crossreference")
    router.register("glossary", views.GlossaryViewSet, basename="glossaryterm")


urlpatterns = [path("search/", views.SearchView.as_view(), name="api-search")]
