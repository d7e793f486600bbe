"""REST API for researchers: list and read jobs and metrics (anyone), launch, cancel and clone
(token or session authentication, Researchers permissions)."""

from __future__ import annotations

import json
from collections.abc import Callable

import django_filters
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api_cache import kept_json
from experiments import roles
from experiments.architectures import ARCHITECTURES, KERAS_BACKENDS, PRECISIONS
from experiments.figures.store import RunVersion, stored_figures_json
from experiments.jobs import views
from experiments.jobs.actions import (
    ActionRefused,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    JobRejected,
    cancel,
    clean_idempotency_key,
    clone,
    launch,
    launch_message,
    validate,
)
from experiments.models import Dataset, EpochMetric, TrainingJob
from experiments.validation import (
    AsciiFloatSerializerField,
    AsciiIntegerSerializerField,
    AsciiModelSerializer,
)

ALL_ARCHITECTURES = sorted({a for archs in ARCHITECTURES.values() for a in archs})


class EpochMetricSerializer(AsciiModelSerializer):
    class Meta:
        model = EpochMetric
        fields = EpochMetric.REPORTED_FIELDS


class JobSerializer(AsciiModelSerializer):
    dataset = serializers.CharField(source="dataset_name", read_only=True)
    launched_by = serializers.StringRelatedField()
    cancelled_by = serializers.StringRelatedField()
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = TrainingJob
        exclude = [
            "dataset_name",
            "task_id",
            "process_id",
            "idempotency_key",
            "idempotency_hash",
            "workdir",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if "error" in data and request is not None:
            data["error"] = roles.visible_error(data["error"], request.user)
        return data


class JobListSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        exclude = JobSerializer.Meta.exclude + ["manifest", "lr_finder", "evaluation"]


class LaunchSerializer(serializers.Serializer):
    """Unset fields come from the library's thesis Table 4.1 preset."""

    library = serializers.ChoiceField(choices=TrainingJob.LIBRARIES)
    architecture = serializers.ChoiceField(choices=ALL_ARCHITECTURES)
    dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
    image_size = AsciiIntegerSerializerField(required=False, min_value=0, max_value=2**31 - 1)
    batch_size = AsciiIntegerSerializerField(required=False, min_value=0, max_value=2**31 - 1)
    augmentation = serializers.BooleanField(required=False)
    weight_decay = AsciiFloatSerializerField(required=False)
    beta1 = AsciiFloatSerializerField(required=False)
    beta2 = AsciiFloatSerializerField(required=False)
    one_cycle = serializers.BooleanField(required=False)
    discriminative_lr = serializers.BooleanField(required=False)
    lr1 = AsciiFloatSerializerField(required=False)
    lr2_low = AsciiFloatSerializerField(required=False)
    lr2_high = AsciiFloatSerializerField(required=False)
    epochs1 = AsciiIntegerSerializerField(required=False, min_value=0, max_value=2**31 - 1)
    epochs2 = AsciiIntegerSerializerField(required=False, min_value=0, max_value=2**31 - 1)
    pretrained = serializers.BooleanField(required=False)
    seed = AsciiIntegerSerializerField(required=False, min_value=0, max_value=2**31 - 1)
    fair_mode = serializers.BooleanField(required=False)
    run_lr_finder = serializers.BooleanField(required=False)
    max_batches = AsciiIntegerSerializerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
    keras_backend = serializers.ChoiceField(choices=KERAS_BACKENDS, required=False)
    precision = serializers.ChoiceField(choices=PRECISIONS, required=False)
    channels_last = serializers.BooleanField(required=False)
    decode_cache = serializers.BooleanField(required=False)
    compile = serializers.BooleanField(required=False)
    deterministic = serializers.BooleanField(required=False)

    def validate(self, attrs):
        try:
            return validate(attrs)
        except JobRejected as refused:
            raise serializers.ValidationError(refused.errors) from refused


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TrainingJob.STATUSES)
    library = django_filters.ChoiceFilter(choices=TrainingJob.LIBRARIES)
    architecture = django_filters.ChoiceFilter(choices=[(a, a) for a in ALL_ARCHITECTURES])
    dataset = django_filters.CharFilter(field_name="dataset_name")

    class Meta:
        model = TrainingJob
        fields = ["status", "library", "architecture", "dataset"]


def row_versions(jobs: QuerySet[TrainingJob]) -> QuerySet | None:
    """(id, row version, launcher, canceller) of each job, in the list's order; None off
    PostgreSQL. The row version is PostgreSQL's `xmin` and `ctid`: every insert and update of a
    row writes a new tuple, with a new ctid (and, in a new transaction, a new xmin), whichever
    code path wrote it, ``QuerySet.update`` included."""
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(TrainingJob._meta.db_table)
    version = RawSQL(f"{table}.xmin::text || {table}.ctid::text", ())
    username = get_user_model().USERNAME_FIELD
    return jobs.annotate(row_version=version).values_list(
        "id", "row_version", f"launched_by__{username}", f"cancelled_by__{username}"
    )


# The ORM's SQL for one page of row versions, per filters and page: building and compiling the
# query costs several times running it, and a list page's query never changes in a process.
_ROW_VERSIONS_SQL: dict[tuple, tuple[str, tuple]] = {}


class ResearcherActions(permissions.BasePermission):
    """Reading is open; launching/cloning and cancelling need the Researchers permissions."""

    required = {
        "create": "experiments.launch_trainingjob",
        "clone": "experiments.launch_trainingjob",
        "cancel": "experiments.cancel_trainingjob",
    }

    def has_permission(self, request, view):
        perm = self.required.get(view.action)
        if perm is None:
            return request.method in permissions.SAFE_METHODS
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(perm))


class JobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training jobs. POST launches one (validated; nothing is queued when it is refused)."""

    queryset = TrainingJob.objects.select_related("launched_by").order_by("-created_at", "-id")
    permission_classes = [ResearcherActions]
    lookup_value_regex = r"[0-9]{1,18}"  # /api/jobs/abc/ or /api/jobs/²/: 404, not a 500
    filterset_class = JobFilter

    def get_serializer_class(self):
        if self.action == "create":
            return LaunchSerializer
        return JobListSerializer if self.action == "list" else JobSerializer

    def filter_queryset(self, queryset):
        # Without a filter in the query the filter form is not built (a third of a kept list).
        if not any(name in self.request.query_params for name in JobFilter.base_filters):
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        # Kept per version of the rows it shows and per role (researchers see failures' detail):
        # a hit costs one query, the shown rows' (id, row version) and the total, no serializers.
        shown = self._shown_row_versions(request)
        if not shown:  # off PostgreSQL, other page numbers (DRF's 404) and empty lists
            return super().list(request, *args, **kwargs)
        role = roles.is_researcher(request.user)
        return kept_json(
            request,
            ("jobs", role, *shown),
            lambda: super(JobViewSet, self).list(request, *args, **kwargs),
        )

    def _shown_row_versions(self, request) -> list[tuple]:
        number = request.query_params.get(self.paginator.page_query_param, "1")
        size = self.paginator.get_page_size(request)
        # A plain page number of at most 9 digits (an OFFSET PostgreSQL takes); others go to DRF.
        plain = number.isascii() and number.isdigit() and len(number) <= 9
        if not (size and plain and int(number) > 0):
            return []
        start = (int(number) - 1) * size
        filters = tuple(
            (name, tuple(request.query_params.getlist(name)))
            for name in JobFilter.base_filters
            if name in request.query_params
        )
        key = (filters, start, size)
        sql = _ROW_VERSIONS_SQL.get(key)
        if sql is None:
            versions = row_versions(self.filter_queryset(self.get_queryset()))
            if versions is None:
                return []
            page = versions.annotate(total=Window(Count("id")))[start : start + size]
            sql = page.query.sql_with_params()
            if len(_ROW_VERSIONS_SQL) < 1000:
                _ROW_VERSIONS_SQL[key] = sql
        with connection.cursor() as cursor:
            cursor.execute(*sql)
            return cursor.fetchall()

    @extend_schema(request=LaunchSerializer, responses={201: JobSerializer, 200: JobSerializer})
    def create(self, request, *args, **kwargs):
        """Send an `Idempotency-Key` header (8-64 of A-Z a-z 0-9 _ -) to make retries safe:
        the same key with the same body answers 200 with the first job instead of launching
        another; with a different body 422; a malformed key 400. Keys are per user."""
        try:
            key = clean_idempotency_key(request.headers.get("Idempotency-Key"))
        except IdempotencyKeyInvalid as exc:
            return Response({"Idempotency-Key": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        serializer = LaunchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = launch(serializer.validated_data, request.user, idempotency_key=key)
        except IdempotencyKeyReused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        data = JobSerializer(job, context={"request": request}).data
        data["detail"] = launch_message(job)
        data["dispatched"] = getattr(job, "dispatched", None)
        code = status.HTTP_200_OK if job.repeated else status.HTTP_201_CREATED
        return Response(data, status=code)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = get_object_or_404(TrainingJob, pk=pk)
        try:
            outcome = cancel(job, request.user)
        except ActionRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        data = JobSerializer(job, context={"request": request}).data
        return Response({**data, "outcome": outcome})

    @extend_schema(request=None, responses={201: JobSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request, pk=None):
        source = get_object_or_404(TrainingJob, pk=pk)
        try:
            job = clone(source, request.user)
        except ActionRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except JobRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses={200: EpochMetricSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        # Plain rows, not a serializer per row: the same JSON as EpochMetricSerializer, ~10x faster.
        job = get_object_or_404(TrainingJob, pk=pk)
        fields = EpochMetric.REPORTED_FIELDS
        rows = job.metrics.values_list(*fields)
        return Response([dict(zip(fields, row, strict=True)) for row in rows])

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        """The run page's Plotly figures, built by the same functions (once, for a finished run).

        A finished run's answer carries an ETag and Last-Modified: a browser's second look is a
        304 Not Modified."""
        job = get_object_or_404(TrainingJob, pk=pk)
        version = RunVersion.of(job)
        if version is None:
            return Response(views.run_figures(job, list(job.metrics.all())))
        return stored_figures_response(
            request,
            version,
            lambda: stored_figures_json(
                job, version, lambda: views.run_figures(job, list(job.metrics.all()))
            ),
        )


def stored_figures_response(request, version, text: Callable[[], str]) -> HttpResponseBase:
    """Stored figures (`text()`, their JSON) with an ETag and Last-Modified from `version`: a
    browser's second look is a 304 Not Modified, which never reads the stored text."""
    etag = f'"{version.stamp}"'
    last_modified = int(version.last_modified.timestamp()) if version.last_modified else None
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None and request.accepted_renderer.format == "json":
        response = HttpResponse(text(), content_type="application/json")
    elif response is None:  # the browsable API
        response = Response(json.loads(text()))
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    return response
