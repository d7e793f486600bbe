from rest_framework import serializers

from experiments.validation import AsciiModelSerializer

from ..models import CrossReference, GlossaryTerm, Mooc, Programme, Topic, Unit


class MoocSerializer(AsciiModelSerializer):
    libraries = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    main_libraries = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    price_kind = serializers.CharField(read_only=True)
    programme = serializers.SerializerMethodField()
    # Plain text, not an enum: the schema already has a "status" enum (training jobs).
    status = serializers.CharField(
        read_only=True, help_text="current, superseded or archived (the editors' statement)."
    )

    class Meta:
        model = Mooc
        exclude = ["id", "order"]

    def get_programme(self, obj) -> str | None:
        programme = getattr(obj, "programme", None)
        return programme.slug if programme else None


class UnitBriefSerializer(AsciiModelSerializer):
    programme = serializers.SlugRelatedField(read_only=True, slug_field="slug")

    class Meta:
        model = Unit
        fields = ["slug", "programme", "number", "part", "title", "title_es"]


class UnitSerializer(AsciiModelSerializer):
    programme = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    readings = serializers.SerializerMethodField()
    topics = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")

    class Meta:
        model = Unit
        exclude = ["id"]

    def get_readings(self, obj) -> list[dict]:
        return [{"title": r.title, "url": r.url or None} for r in obj.readings.all()]


class ProgrammeSerializer(AsciiModelSerializer):
    mooc = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    units = UnitBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Programme
        exclude = ["id", "order"]


class TopicSerializer(AsciiModelSerializer):
    units = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    coverage = serializers.CharField(read_only=True)
    exclusive = serializers.BooleanField(source="is_exclusive", read_only=True)

    class Meta:
        model = Topic
        exclude = ["id"]


class CrossReferenceSerializer(AsciiModelSerializer):
    ng_unit = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    fastai_unit = serializers.SlugRelatedField(read_only=True, slug_field="slug")

    class Meta:
        model = CrossReference
        fields = [
            "ng_unit",
            "fastai_unit",
            "topic_en",
            "topic_es",
            "relation",
            "erratum_en",
            "erratum_es",
        ]


class GlossaryTermSerializer(AsciiModelSerializer):
    topics = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    units = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")

    class Meta:
        model = GlossaryTerm
        exclude = ["id", "sort_key_es", "sort_key_en"]


class SearchHitSerializer(serializers.Serializer):
    kind = serializers.CharField()
    key = serializers.CharField()
    url = serializers.CharField()
    title = serializers.CharField(help_text="HTML: escaped text with <mark> around matches.")
    snippet = serializers.CharField(help_text="HTML: escaped text with <mark> around matches.")
    title_match = serializers.BooleanField()
