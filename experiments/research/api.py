"""API of the research features: per-image predictions, paired statistics, studies."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from PIL import Image
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments import storage
from experiments.datasets.uploads import UploadRefused, read_image_upload
from experiments.figures.store import StudyVersion, stored_study_figures_json
from experiments.jobs.actions import ActionRefused
from experiments.jobs.api import ResearcherActions, stored_figures_response
from experiments.models import DatasetImage, ImagePrediction, Prediction, Study, TrainingJob
from experiments.research import studies
from experiments.research import views as research_views
from experiments.research.predictions import (
    PairingRefused,
    image_prediction_state,
    paired_comparison,
    predictions_for,
    request_image_prediction,
)
from experiments.validation import (
    AsciiFloatSerializerField,
    AsciiIntegerSerializerField,
    AsciiModelSerializer,
)

SPLITS = [s for s, _ in Prediction.SPLITS]
LAUNCH = "experiments.launch_trainingjob"


class SplitQuery(serializers.Serializer):
    split = serializers.ChoiceField(choices=SPLITS, default=Prediction.TEST)


class PairQuery(serializers.Serializer):
    a = AsciiIntegerSerializerField(min_value=1, max_value=2**31 - 1)
    b = AsciiIntegerSerializerField(min_value=1, max_value=2**31 - 1)


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
                {"detail": _("No run #%(id)s.") % {"id": ", #".join(missing)}},
                status=status.HTTP_404_NOT_FOUND,
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
        child=AsciiIntegerSerializerField(min_value=0, max_value=2**31 - 1),
        max_length=studies.MAX_SEEDS,
        required=False,
    )
    lr1 = serializers.ListField(child=AsciiFloatSerializerField(), max_length=10, required=False)
    image_size = serializers.ListField(
        child=AsciiIntegerSerializerField(), max_length=10, required=False
    )
    epochs = serializers.ListField(
        child=serializers.ListField(
            child=AsciiIntegerSerializerField(), min_length=2, max_length=2
        ),
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


class StudyListSerializer(AsciiModelSerializer):
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
    lookup_value_regex = r"[0-9]{1,18}"  # int() would read /api/studies/١٢/ as study 12

    def get_serializer_class(self):
        return StudyLaunchSerializer if self.action == "create" else StudyListSerializer

    @extend_schema(responses={200: dict})
    def retrieve(self, request, *args, **kwargs):
        """Progress, cells (mean ± std and 95 % interval over seeds), Keras-vs-fastai."""
        return Response(studies.summary(self.get_object()))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        """The study page's Plotly figures. A finished study's are built once and stored, and
        answered with an ETag and Last-Modified: a browser's second look is a 304."""
        study = self.get_object()

        def build() -> dict:
            return research_views.build_study_figures(study, studies.cells(study))

        version = StudyVersion.of(study)
        if version is None:
            return Response(build())
        return stored_figures_response(
            request, version, lambda: stored_study_figures_json(study, version, build)
        )

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


class CanTryModels(permissions.BasePermission):
    """Uploads and their answers: researchers only (the launch permission)."""

    message = gettext_lazy(
        "Your account may not do this; ask an admin to add it to the Researchers group."
    )

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(LAUNCH))


class PredictUpload(serializers.Serializer):
    image = serializers.FileField(required=False, allow_empty_file=True)
    path = serializers.CharField(required=False, max_length=500)

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("path")):
            raise serializers.ValidationError(
                _("Send either an image file (field `image`) or the path of a test image.")
            )
        return attrs


class JobPredictView(APIView):
    """Try a finished run's model on an image (multipart field `image`, or `path` of an image
    of its dataset): 202 with the URL to poll for the probabilities and Grad-CAM heatmap."""

    permission_classes = [CanTryModels]

    @extend_schema(request=PredictUpload, responses={202: dict})
    def post(self, request, pk: int):
        job = get_object_or_404(TrainingJob, pk=pk)
        upload = request.FILES.get("image")
        if "image" in request.data and upload is None:
            return Response({"image": [_("Attach an image file.")]}, status=400)
        fields = {"image": upload} if upload is not None else {}
        if request.data.get("path"):
            fields["path"] = request.data.get("path")
        query = PredictUpload(data=fields)
        query.is_valid(raise_exception=True)
        try:
            if upload is not None:
                image = read_image_upload(upload)
                source = upload.name
            else:
                path = query.validated_data["path"]
                stored_image = (
                    DatasetImage.objects.filter(dataset=job.dataset, path=path).first()
                    if job.dataset is not None
                    else None
                )
                if stored_image is None:
                    return Response(
                        {"path": [_("No such image in this run's dataset.")]}, status=400
                    )
                key = storage.blob_key(stored_image.sha256)
                with storage.datasets().open(key, "rb") as blob, Image.open(blob) as stored:
                    image = stored.convert("RGB")
                source = path
            prediction = request_image_prediction(job, image, source, request.user)
        except UploadRefused as exc:
            return Response({"image": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except PairingRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except OSError:
            return Response({"path": [_("The image file is no longer on disk.")]}, status=400)
        url = reverse("api-image-prediction", args=[prediction.pk])
        body = {"id": prediction.pk, "url": url, "dispatched": prediction.dispatched}
        if prediction.dispatched is False:
            body["detail"] = _(
                "The request is saved but the job queue is unreachable; it will be answered "
                "automatically when the queue is back."
            )
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ImagePredictionView(APIView):
    """One image prediction: status, predicted class, probabilities, heatmap URL."""

    permission_classes = [CanTryModels]

    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        return Response(image_prediction_state(get_object_or_404(ImagePrediction, pk=pk)))
