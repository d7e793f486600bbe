"""API of the research features: per-image predictions, paired statistics, studies."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from . import studies
from .api import ResearcherActions
from .jobs import ActionRefused
from .models import Prediction, Study, TrainingJob
from .predictions import PairingRefused, paired_comparison, predictions_for

SPLITS = [s for s, _ in Prediction.SPLITS]


class SplitQuery(serializers.Serializer):
    split = serializers.ChoiceField(choices=SPLITS, default=Prediction.TEST)


class PairQuery(serializers.Serializer):
    a = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    b = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class JobPredictionsView(APIView):
    """Per-image predictions of a finished job: path (relative to the dataset root), true
    label, predicted label and class probabilities."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=SPLITS)], responses={200: dict})
    def get(self, request, pk: int):
        job = get_object_or_404(TrainingJob, pk=pk)
        query = SplitQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(predictions_for(job, query.validated_data["split"]))


class PairedCompareView(APIView):
    """Paired statistics of two runs on the same test images: accuracies (Wilson 95 %), the
    difference with a seeded paired bootstrap 95 % interval, McNemar's exact test."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("a", int), OpenApiParameter("b", int)],
        responses={200: dict},
    )
    def get(self, request):
        query = PairQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = TrainingJob.objects.in_bulk([query.validated_data["a"], query.validated_data["b"]])
        missing = [str(i) for i in query.validated_data.values() if i not in jobs]
        if missing:
            return Response(
                {"detail": f"No run #{', #'.join(missing)}."}, status=status.HTTP_404_NOT_FOUND
            )
        try:
            result = paired_comparison(
                jobs[query.validated_data["a"]], jobs[query.validated_data["b"]]
            )
        except PairingRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result)


class StudyLaunchSerializer(serializers.Serializer):
    """A grid: libraries x architectures x seeds x optional setting lists, on one dataset."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    dataset = serializers.CharField(max_length=100)
    libraries = serializers.ListField(child=serializers.CharField(max_length=20), max_length=2)
    architectures = serializers.ListField(child=serializers.CharField(max_length=30), max_length=10)
    seeds = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=2**31 - 1),
        max_length=studies.MAX_SEEDS,
        required=False,
    )
    lr1 = serializers.ListField(child=serializers.FloatField(), max_length=10, required=False)
    image_size = serializers.ListField(
        child=serializers.IntegerField(), max_length=10, required=False
    )
    epochs = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        max_length=10,
        required=False,
    )
    fair_mode = serializers.ListField(
        child=serializers.BooleanField(), max_length=2, required=False
    )
    base = serializers.DictField(required=False)

    def validate(self, attrs):
        try:
            studies.expand(attrs)
        except studies.StudyRejected as refused:
            raise serializers.ValidationError(refused.errors) from refused
        return attrs


class StudyListSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    job_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Study
        fields = ["id", "name", "dataset_name", "created_at", "job_count", "url", "grid"]


class StudyActions(ResearcherActions):
    required = {
        "create": "experiments.launch_trainingjob",
        "clone": "experiments.launch_trainingjob",
        "cancel": "experiments.cancel_trainingjob",
    }


class StudyViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Studies. POST launches a grid (validated as a whole; nothing is queued if refused)."""

    queryset = Study.objects.annotate(job_count=Count("members")).order_by("-created_at", "-id")
    permission_classes = [StudyActions]
    serializer_class = StudyListSerializer

    def get_serializer_class(self):
        return StudyLaunchSerializer if self.action == "create" else StudyListSerializer

    @extend_schema(responses={200: dict})
    def retrieve(self, request, *args, **kwargs):
        """Progress, cells (mean ± std and 95 % interval over seeds), Keras-vs-fastai."""
        return Response(studies.summary(self.get_object()))

    @extend_schema(request=StudyLaunchSerializer, responses={201: dict})
    def create(self, request, *args, **kwargs):
        serializer = StudyLaunchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            study = studies.launch_study(serializer.validated_data, request.user)
        except studies.StudyRejected as refused:
            return Response(refused.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(studies.summary(study), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        study = self.get_object()
        count = studies.cancel_study(study)
        return Response({"cancelled": count, "progress": studies.progress(study)})

    @extend_schema(request=None, responses={201: dict})
    @action(detail=True, methods=["post"])
    def clone(self, request, pk=None):
        try:
            study = studies.clone_study(self.get_object(), request.user)
        except (ActionRefused, studies.StudyRejected) as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(studies.summary(study), status=status.HTTP_201_CREATED)
