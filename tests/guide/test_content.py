"""The guide's content, checked against facts of the thesis, and the load/export round trip."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from guide.contentio import CONTENT_DIR, ContentError, export_content, load_content
from guide.models import (
    CrossReference,
    GlossaryTerm,
    Mooc,
    PipelineStage,
    Programme,
    StudyPath,
    Topic,
    Unit,
)

pytestmark = pytest.mark.django_db


def test_counts_match_the_thesis(content):
    assert Mooc.objects.count() == 7  # Table 3.1
    assert Unit.objects.filter(programme__slug="ng").count() == 5  # §3.3.1–3.3.5
    assert Unit.objects.filter(programme__slug="fastai").count() == 14  # §3.4.1–3.4.14
    assert Topic.objects.count() == 63  # Table 3.2
    assert GlossaryTerm.objects.count() == 124  # Appendix B
    assert list(Programme.objects.get(slug="fastai").parts.values_list("number", flat=True)) == [
        1,
        2,
    ]
    assert PipelineStage.objects.count() == 5  # §4.1 stages


def test_catalogue_facts(content):
    ng = Mooc.objects.get(slug="deep-learning-specialization")
    assert (ng.platform, ng.duration_weeks, ng.monthly_price_eur) == ("Coursera", 16, Decimal(44))
    assert ng.certificate is True
    assert set(ng.libraries.values_list("slug", flat=True)) == {"numpy", "tensorflow", "keras"}
    assert ng.url == "https://www.coursera.org/specializations/deep-learning"

    fastai = Mooc.objects.get(slug="fastai-course-v3")
    assert fastai.is_free is True and fastai.certificate is False
    assert fastai.duration_weeks == 14
    assert fastai.url == "https://course.fast.ai/"

    nanodegree = Mooc.objects.get(slug="deep-learning-nanodegree")
    assert nanodegree.monthly_price_eur == Decimal(359)
    assert (nanodegree.hours_per_week_min, nanodegree.hours_per_week_max) == (12, 12)

    ibm = Mooc.objects.get(slug="ibm-deep-learning-professional-certificate")
    assert (ibm.duration_weeks, ibm.hours_per_week_min, ibm.hours_per_week_max) == (26, 2, 4)
    assert ibm.platform == "edX" and ibm.is_free and ibm.certificate_paid

    applied = Mooc.objects.get(slug="applied-ai-with-deep-learning")
    assert (applied.hours_per_week_min, applied.hours_per_week_max) == (4, 6)
    assert "dl4j" in set(applied.libraries.values_list("slug", flat=True))


def test_programme_structure(content):
    weeks = list(Unit.objects.filter(programme__slug="ng").values_list("number", "duration_weeks"))
    assert weeks == [(1, 4), (2, 3), (3, 2), (4, 4), (5, 3)]
    assert Unit.objects.get(slug="ng-3").title == "Structuring Machine Learning Projects"
    assert Unit.objects.get(slug="fastai-1").title == "Image classification"
    assert (
        Unit.objects.get(slug="fastai-3").title
        == "Data blocks; Multi-label classification; Segmentation"
    )
    assert Unit.objects.get(slug="fastai-13").title == "Basics of Swift for Deep Learning"
    parts = dict(Unit.objects.filter(programme__slug="fastai").values_list("number", "part"))
    assert {n for n, p in parts.items() if p == 1} == set(range(1, 8))
    assert {n for n, p in parts.items() if p == 2} == set(range(8, 15))
    for unit in Unit.objects.all():
        assert unit.summary_en and unit.summary_es and unit.advice_en and unit.advice_es, unit.slug


def test_every_unit_has_a_spanish_title(content):
    assert not Unit.objects.filter(title_es="").exists()
    assert Unit.objects.get(slug="ng-5").title_es == "Modelos secuenciales"
    assert Unit.objects.get(slug="fastai-1").title == "Image classification"


def test_topic_names_are_spanish_where_spanish_has_a_term(content):
    same = {t.slug for t in Topic.objects.all() if t.name_en == t.name_es}
    # Only architecture and method names, which Spanish writes as English does.
    assert same == {"awd-lstm", "ulmfit", "densenet-unet", "vgg16-resnet"}


def test_cross_references_from_both_sides(content):
    # Every Ng course ends with a "Referencias al curso de Howard et al." paragraph.
    linked_ng = set(CrossReference.objects.values_list("ng_unit__slug", flat=True))
    assert linked_ng == {"ng-1", "ng-2", "ng-3", "ng-4", "ng-5"}
    # Course 4 (CNNs) points to lesson 1 (image classification), stated in §3.3.4.
    assert CrossReference.objects.filter(ng_unit__slug="ng-4", fastai_unit__slug="fastai-1")
    # Course 1 points to lesson 8 (§3.3.1's paragraph starts with it).
    assert CrossReference.objects.filter(ng_unit__slug="ng-1", fastai_unit__slug="fastai-8")
    lesson = Unit.objects.get(slug="fastai-1")
    assert lesson.ng_references.filter(ng_unit__slug="ng-4").exists()


def test_topic_coverage(content):
    def coverage(slug):
        return Topic.objects.get(slug=slug).coverage

    assert coverage("object-detection") == "ng"
    assert coverage("face-recognition") == "ng"
    assert coverage("learning-rate-finder") == "fastai"
    assert coverage("collaborative-filtering") == "fastai"
    assert coverage("transfer-learning") == "both"
    assert Topic.objects.first().slug == "activation-functions"  # table order kept
    assert Topic.objects.filter(taught_by_ng=True, taught_by_fastai=True).count() == 29


def test_glossary_pairs(content):
    cnn = GlossaryTerm.objects.get(term_en="convolutional neural network")
    assert cnn.term_es == "red neuronal convolucional"
    assert "CNN" in cnn.acronyms and "ConvNet" in cnn.en_alternates
    assert GlossaryTerm.objects.get(term_es="aprendizaje por transferencia").term_en == (
        "transfer learning"
    )
    assert GlossaryTerm.objects.get(term_es="ajuste fino").term_en == "fine tuning"
    assert cnn.topics.filter(slug="convolutional-neural-networks").exists()
    for term in GlossaryTerm.objects.all():
        assert term.definition_en and term.definition_es, term.slug


def test_study_paths_cover_both_orders(content):
    assert set(StudyPath.objects.values_list("suits", flat=True)) == {"theory", "practice"}
    mixed = StudyPath.objects.get(slug="fastai-ng-fastai")
    assert [(s.programme.slug, s.part) for s in mixed.steps.all()] == [
        ("fastai", 1),
        ("ng", None),
        ("fastai", 2),
    ]


def test_loading_twice_changes_nothing(content):
    assert load_content().changed == 0


def test_edit_in_file_updates_in_place(content, tmp_path):
    directory = tmp_path / "content"
    directory.mkdir()
    for path in CONTENT_DIR.glob("*.yaml"):
        (directory / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    moocs = yaml.safe_load((directory / "moocs.yaml").read_text(encoding="utf-8"))
    moocs["moocs"][0]["summary"]["en"] = "An edited summary."
    (directory / "moocs.yaml").write_text(yaml.safe_dump(moocs, allow_unicode=True))
    pk = Mooc.objects.get(slug=moocs["moocs"][0]["slug"]).pk

    report = load_content(directory)

    assert report.updated["MOOCs"] == 1 and report.changed == 1
    assert Mooc.objects.get(pk=pk).summary_en == "An edited summary."


def test_broken_file_changes_nothing(content, tmp_path):
    directory = tmp_path / "content"
    directory.mkdir()
    for path in CONTENT_DIR.glob("*.yaml"):
        (directory / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    topics = yaml.safe_load((directory / "topics.yaml").read_text(encoding="utf-8"))
    topics[0]["units"] = ["ng-99"]
    (directory / "topics.yaml").write_text(yaml.safe_dump(topics, allow_unicode=True))
    moocs = yaml.safe_load((directory / "moocs.yaml").read_text(encoding="utf-8"))
    moocs["moocs"][0]["name"] = "Renamed before the error"
    (directory / "moocs.yaml").write_text(yaml.safe_dump(moocs, allow_unicode=True))

    with pytest.raises(ContentError, match="ng-99"):
        load_content(directory)
    assert not Mooc.objects.filter(name="Renamed before the error").exists()

    (directory / "topics.yaml").write_text((CONTENT_DIR / "topics.yaml").read_text("utf-8"))
    (directory / "glossary.yaml").write_text("- slug: [unclosed", encoding="utf-8")
    with pytest.raises(ContentError, match="glossary.yaml"):
        load_content(directory)


def test_export_round_trips(content, tmp_path):
    written = export_content(tmp_path)
    assert {p.name for p in written} == {p.name for p in CONTENT_DIR.glob("*.yaml")}
    for path in written:
        exported = yaml.safe_load(path.read_text(encoding="utf-8"))
        original = yaml.safe_load((CONTENT_DIR / path.name).read_text(encoding="utf-8"))
        assert exported == original, path.name
    # And what was exported loads back without a single change.
    assert load_content(Path(tmp_path)).changed == 0
