import django_filters

from experiments.validation import AsciiDecimalField

from ..models import CrossReference, GlossaryTerm, Mooc, Topic, Unit
from ..models.glossary import fold

TRUTH = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class StrictBooleanFilter(django_filters.ChoiceFilter):
    """true/false (or 1/0, yes/no); anything else is a 400, not silently ignored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [(key, key) for key in TRUTH])
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(**{self.field_name: TRUTH[value]})


class AsciiNumberFilter(django_filters.NumberFilter):
    """A number in the query string: 0-9 only (Decimal() reads '١٢' as 12)."""

    field_class = AsciiDecimalField


class MoocFilter(django_filters.FilterSet):
    platform = django_filters.CharFilter(field_name="platform", lookup_expr="iexact")
    free = StrictBooleanFilter(field_name="is_free")
    certificate = StrictBooleanFilter(field_name="certificate")
    library = django_filters.CharFilter(field_name="libraries__slug")
    max_weeks = AsciiNumberFilter(field_name="duration_weeks", lookup_expr="lte")

    class Meta:
        model = Mooc
        fields = ["platform", "free", "certificate", "library", "max_weeks"]


class UnitFilter(django_filters.FilterSet):
    programme = django_filters.ChoiceFilter(
        field_name="programme__slug", choices=[("ng", "ng"), ("fastai", "fastai")]
    )
    part = AsciiNumberFilter(field_name="part")

    class Meta:
        model = Unit
        fields = ["programme", "part"]


class TopicFilter(django_filters.FilterSet):
    coverage = django_filters.ChoiceFilter(
        method="filter_coverage",
        choices=[("both", "both"), ("ng", "only Ng et al."), ("fastai", "only fast.ai")],
    )

    class Meta:
        model = Topic
        fields = ["coverage"]

    def filter_coverage(self, queryset, name, value):
        return queryset.filter(
            taught_by_ng=value in ("both", "ng"), taught_by_fastai=value in ("both", "fastai")
        )


class CrossReferenceFilter(django_filters.FilterSet):
    ng = django_filters.CharFilter(field_name="ng_unit__slug")
    fastai = django_filters.CharFilter(field_name="fastai_unit__slug")

    class Meta:
        model = CrossReference
        fields = ["ng", "fastai"]


class GlossaryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", max_length=100)

    class Meta:
        model = GlossaryTerm
        fields = ["q"]

    def filter_q(self, queryset, name, value):
        needle = fold(value)
        keep = [
            t.pk
            for t in queryset
            if needle
            in fold(
                " ".join([t.term_es, t.term_en, *t.acronyms, *t.en_alternates, *t.es_alternates])
            )
        ]
        return queryset.filter(pk__in=keep)
