"""Admins edit all guide content here; `manage.py export_guide` saves it back to the YAML files."""

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from experiments.validation import AsciiNumbersAdmin, ascii_number_formfield

from .models import (
    CrossReference,
    GlossaryTerm,
    Library,
    Mooc,
    PipelineStage,
    Programme,
    ProgrammeComparison,
    ProgrammePart,
    Reading,
    StudyPath,
    StudyStep,
    Topic,
    Unit,
)

# Many-to-many choices as labelled checkboxes: filter_horizontal's and select2's widgets both
# fail axe (an unlabelled search field, aria on a plain span), and the lists are short.
CHECKBOXES = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}


@admin.register(Library)
class LibraryAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]


@admin.register(Mooc)
class MoocAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = [
        "name",
        "platform",
        "duration_weeks",
        "is_free",
        "monthly_price_eur",
        "certificate",
        "status",
        "status_checked",
    ]
    list_filter = ["platform", "is_free", "certificate", "libraries", "status"]
    search_fields = ["name", "name_es", "summary_en", "summary_es", "slug"]
    formfield_overrides = CHECKBOXES
    prepopulated_fields = {"slug": ["name"]}


class ProgrammePartInline(AsciiNumbersAdmin, admin.TabularInline):
    model = ProgrammePart
    extra = 0


class UnitInline(AsciiNumbersAdmin, admin.TabularInline):
    model = Unit
    extra = 0
    fields = ["number", "slug", "part", "title", "title_es", "duration_weeks"]
    show_change_link = True


@admin.register(Programme)
class ProgrammeAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["name_en", "slug", "year", "mooc"]
    search_fields = ["name_en", "name_es", "summary_en"]
    inlines = [ProgrammePartInline, UnitInline]


class ReadingInline(AsciiNumbersAdmin, admin.TabularInline):
    model = Reading
    extra = 0


class FastaiReferenceInline(AsciiNumbersAdmin, admin.TabularInline):
    model = CrossReference
    fk_name = "ng_unit"
    extra = 0
    verbose_name = _("cross-reference to a fast.ai lesson")
    verbose_name_plural = _("cross-references to fast.ai lessons")
    autocomplete_fields = ["fastai_unit"]


class NgReferenceInline(AsciiNumbersAdmin, admin.TabularInline):
    model = CrossReference
    fk_name = "fastai_unit"
    extra = 0
    verbose_name = _("cross-reference to an Ng et al. course")
    verbose_name_plural = _("cross-references to Ng et al. courses")
    autocomplete_fields = ["ng_unit"]


@admin.register(Unit)
class UnitAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["slug", "title", "title_es", "programme", "part", "duration_weeks"]
    list_filter = ["programme", "part"]
    search_fields = ["title", "title_es", "slug", "summary_en", "summary_es"]
    inlines = [ReadingInline, FastaiReferenceInline, NgReferenceInline]


@admin.register(CrossReference)
class CrossReferenceAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["ng_unit", "fastai_unit", "topic_en", "topic_es", "relation"]
    list_filter = ["relation", "ng_unit", "fastai_unit"]
    search_fields = ["topic_en", "topic_es"]
    autocomplete_fields = ["ng_unit", "fastai_unit"]


@admin.register(Topic)
class TopicAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["name_en", "name_es", "taught_by_ng", "taught_by_fastai", "order"]
    list_filter = ["taught_by_ng", "taught_by_fastai"]
    search_fields = ["name_en", "name_es", "slug"]
    formfield_overrides = CHECKBOXES


class CommaSeparatedList(forms.CharField):
    """A list of short strings typed as "a, b, c" instead of a JSON list."""

    def __init__(self, **kwargs):
        kwargs.pop("encoder", None), kwargs.pop("decoder", None)  # JSONField's form options
        super().__init__(
            required=False,
            help_text=_("Separate them with commas, e.g. ConvNet, convolutional net."),
            **{k: v for k, v in kwargs.items() if k in ("label", "initial", "disabled")},
        )

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [
            part.strip() for part in (super().to_python(value) or "").split(",") if part.strip()
        ]

    def has_changed(self, initial, data):
        return self.prepare_value(initial or []) != self.prepare_value(self.to_python(data))


class GlossaryTermForm(forms.ModelForm):
    es_alternates = CommaSeparatedList(label=_("Spanish alternates"))
    en_alternates = CommaSeparatedList(label=_("English alternates"))
    acronyms = CommaSeparatedList(label=_("Acronyms"))

    class Meta:
        model = GlossaryTerm
        formfield_callback = ascii_number_formfield
        fields = [  # every field: the admin shows the form's fields, not the model's
            "slug",
            "order",
            "term_es",
            "term_en",
            "es_alternates",
            "en_alternates",
            "acronyms",
            "definition_en",
            "definition_es",
            "topics",
            "units",
        ]


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    form = GlossaryTermForm
    list_display = ["term_es", "term_en", "acronyms"]
    search_fields = ["term_es", "term_en", "definition_en", "definition_es", "slug"]
    list_filter = ["topics"]
    formfield_overrides = CHECKBOXES


class StudyStepInline(AsciiNumbersAdmin, admin.TabularInline):
    model = StudyStep
    extra = 0


@admin.register(StudyPath)
class StudyPathAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["title_en", "suits", "order"]
    list_filter = ["suits"]
    search_fields = ["title_en", "title_es"]
    inlines = [StudyStepInline]


@admin.register(ProgrammeComparison)
class ProgrammeComparisonAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["title_en", "order"]
    search_fields = ["title_en", "title_es", "ng_en", "fastai_en"]


@admin.register(PipelineStage)
class PipelineStageAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["stage_en", "order"]
    search_fields = ["stage_en", "stage_es", "keras_en", "fastai_en"]
