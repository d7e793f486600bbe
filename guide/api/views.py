from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_cache import kept_json

from ..models import CrossReference, GlossaryTerm, Mooc, Programme, Topic, Unit
from ..models.bilingual import current_language
from ..page_cache import page_key
from ..search import search
from . import filters
from .serializers import (
    CrossReferenceSerializer,
    GlossaryTermSerializer,
    MoocSerializer,
    ProgrammeSerializer,
    SearchHitSerializer,
    TopicSerializer,
    UnitSerializer,
)


class KeptForVisitors:
    """Lists and details kept per content version for clients without a session, as the guide's
    pages are (guide/page_cache.py). Authentication and throttling still run first; what is
    saved is the queries, the serializers and the JSON rendering (config/api_cache.py)."""

    def list(self, request, *args, **kwargs):
        return _kept(request, lambda: super(KeptForVisitors, self).list(request, *args, **kwargs))

    def retrieve(self, request, *args, **kwargs):
        return _kept(
            request, lambda: super(KeptForVisitors, self).retrieve(request, *args, **kwargs)
        )


def _kept(request, answer):
    """The guide's content is the same for every client: the key is the page's (its content
    version, language and path); clients with a session get a fresh answer, as on the pages."""
    key = page_key(request._request)
    if key is None:
        return answer()
    return kept_json(request, ("guide", key), answer)


class MoocViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    """The MOOC catalogue (thesis Table 3.1)."""

    queryset = Mooc.objects.prefetch_related("libraries", "main_libraries").select_related(
        "programme"
    )
    serializer_class = MoocSerializer
    filterset_class = filters.MoocFilter
    lookup_field = "slug"


class ProgrammeViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    queryset = Programme.objects.select_related("mooc").prefetch_related(
        Prefetch("units", queryset=Unit.objects.select_related("programme"))
    )
    serializer_class = ProgrammeSerializer
    lookup_field = "slug"


class UnitViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    """Courses of Ng et al.'s specialization and lessons of fast.ai course v3."""

    queryset = Unit.objects.select_related("programme").prefetch_related("readings", "topics")
    serializer_class = UnitSerializer
    filterset_class = filters.UnitFilter
    lookup_field = "slug"


class TopicViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    """Rows of the topic-coverage comparison (thesis Table 3.2)."""

    queryset = Topic.objects.prefetch_related("units")
    serializer_class = TopicSerializer
    filterset_class = filters.TopicFilter
    lookup_field = "slug"


class CrossReferenceViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    queryset = CrossReference.objects.select_related("ng_unit", "fastai_unit")
    serializer_class = CrossReferenceSerializer
    filterset_class = filters.CrossReferenceFilter


class GlossaryViewSet(KeptForVisitors, viewsets.ReadOnlyModelViewSet):
    """Spanish–English glossary (thesis Appendix B)."""

    queryset = GlossaryTerm.objects.prefetch_related("topics", "units")
    serializer_class = GlossaryTermSerializer
    filterset_class = filters.GlossaryFilter
    lookup_field = "slug"


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, trim_whitespace=True)


class SearchView(APIView):
    """One search over courses, lessons, topics and glossary terms, grouped by kind."""

    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True)],
        responses={200: SearchHitSerializer(many=True)},
    )
    def get(self, request):
        return _kept(request, lambda: self._search(request))

    def _search(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        groups = search(params.validated_data["q"], lang=current_language())
        hits = [hit for kind_hits in groups.values() for hit in kind_hits]
        return Response({"count": len(hits), "results": SearchHitSerializer(hits, many=True).data})
