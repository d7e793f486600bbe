"""The guide's content against the thesis: cross-references, errata, Table 3.1, §3.5, and prose
that is the guide's own (no Spanish prose shares 12 consecutive words with the thesis)."""

import os
import re
from pathlib import Path

import pytest
from django.db import models
from django.utils import translation

from guide.models import CrossReference, GlossaryTerm, Mooc, StudyPath, Topic
from guide.recommend import recommend_courses
from guide.search import search

pytestmark = pytest.mark.django_db

# The thesis sits in shared/ beside the repository (as in CI); THESIS_TEXT overrides.
SEED = Path(
    os.environ.get(
        "THESIS_TEXT",
        Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_f6d8c608c2d25a4a.txt",
    )
)
RUN = 12
NOT_TAUGHT_BY_NG = {
    "LAMB optimizer",
    "LSUV initialization",
    "mixup",
    "label smoothing",
    "multi-label classification",
    "image segmentation",
    "DenseNet",
    "U-Nets",
    "GANs",
    "perceptual losses",
    "XResNet",
    "ULMFiT (transfer learning for text classification)",
    "AWD-LSTM",
    "embeddings for categorical variables",
    "tabular data",
    "collaborative filtering",
}
WORD = re.compile(r"\w+")


def test_topics_ng_does_not_teach_are_labelled_goes_further(content):
    for ref in CrossReference.objects.all():
        expected = ref.topic_en in NOT_TAUGHT_BY_NG
        assert (ref.relation == CrossReference.GOES_FURTHER) == expected, ref
    assert CrossReference.objects.filter(relation=CrossReference.GOES_FURTHER).count() == 18


def test_implementations_are_labelled(content):
    def relation(ng, fastai, topic):
        return CrossReference.objects.get(
            ng_unit__slug=ng, fastai_unit__slug=fastai, topic_en=topic
        ).relation

    assert relation("ng-1", "fastai-8", "forward and backward pass of a two-layer network") == (
        "implements"
    )
    assert relation("ng-2", "fastai-11", "SGD, momentum, RMSprop and Adam optimizers") == (
        "implements"
    )
    assert relation("ng-2", "fastai-5", "SGD, momentum, RMSprop and Adam optimizers") == (
        "complements"
    )
    assert relation("ng-4", "fastai-10", "simple ConvNet implementation") == "implements"


def test_errata_batchnorm_lesson_10_and_xresnet_lesson_12(content, client):
    batchnorm = CrossReference.objects.get(
        ng_unit__slug="ng-2", topic_en="batch normalization", erratum_en__gt=""
    )
    assert batchnorm.fastai_unit.slug == "fastai-10"
    assert not CrossReference.objects.filter(
        ng_unit__slug="ng-2", fastai_unit__slug="fastai-9", topic_en="batch normalization"
    ).exists()
    xresnet = CrossReference.objects.get(topic_en="XResNet")
    assert xresnet.fastai_unit.slug == "fastai-12" and "§3.3.4" in xresnet.erratum_en
    assert "§3.3.2" in batchnorm.erratum_es and "lección 9" in batchnorm.erratum_es

    html = client.get("/programmes/ng/ng-2/").content.decode()
    assert 'class="erratum"' in html and "§3.4.10" in html
    html = client.get("/programmes/fastai/fastai-12/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Fe de erratas" in html and "§3.3.4" in html


def test_unit_page_headings_by_relation(client, content):
    html = client.get("/programmes/ng/ng-4/").content.decode()
    assert 'data-relation="goes_further"' in html
    assert "fast.ai goes further: not taught in this course" in html
    assert "Complements this course" in html
    html = client.get("/programmes/ng/ng-4/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Complementa a este curso" in html
    html = client.get("/programmes/fastai/fastai-1/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Complementa a esta lección" in html


def test_table_3_1_requirements_and_libraries(content):
    ng = Mooc.objects.get(slug="deep-learning-specialization")
    assert ng.requirements_es == [
        "Conocimientos matemáticos básicos",
        "Cierta experiencia de programación",
    ]
    fastai = Mooc.objects.get(slug="fastai-course-v3")
    assert fastai.requirements_es[1] == "Un año de experiencia de programación"
    applied = Mooc.objects.get(slug="applied-ai-with-deep-learning")
    assert applied.main_library_slugs() == {"keras", "tensorflow"}
    assert {"pytorch", "dl4j", "apache-systemml"} <= set(
        applied.libraries.values_list("slug", flat=True)
    )


def test_recommender_weighs_main_libraries(content):
    translation.activate("en")
    answers = {
        "approach": "practice",
        "budget": "any",
        "certificate": "no",
        "hours": 10,
        "programming_year": "yes",
    }
    ranked, _path = recommend_courses({**answers, "library": "pytorch"})
    applied = next(r for r in ranked if r.mooc.slug == "applied-ai-with-deep-learning")
    assert any("not as its main one" in reason for reason in applied.reasons), applied.reasons
    ranked, _path = recommend_courses({**answers, "library": "keras"})
    applied_keras = next(r for r in ranked if r.mooc.slug == "applied-ai-with-deep-learning")
    assert applied_keras.score == applied.score + 1


def test_paths_say_which_are_the_thesis_and_show_its_advice(client, content):
    assert set(StudyPath.objects.filter(from_thesis=True).values_list("slug", flat=True)) == {
        "ng-then-fastai",
        "fastai-ng-fastai",
    }
    html = client.get("/recommend/").content.decode()
    assert html.count("This guide's suggestion") == 2
    assert html.count("One of the two ways the thesis proposes") == 2
    assert "recommends taking both" in html


def test_topics_list_units_on_both_sides(content):
    for slug in ("manual-error-analysis", "image-regression"):
        programmes = set(
            Topic.objects.get(slug=slug).units.values_list("programme__slug", flat=True)
        )
        assert programmes == {"ng", "fastai"}, slug


def test_glossary_headwords_correctly_spelled_with_thesis_spelling_as_alternate(content):
    term = GlossaryTerm.objects.get(slug="long-term-dependencies")
    assert (
        term.term_es == "dependencias a largo plazo"
        and "dependecias a largo plazo" in term.es_alternates
    )
    term = GlossaryTerm.objects.get(slug="automatic-differentiation")
    assert term.term_en == "automatic differentiation"
    assert "automatic differenciation" in term.en_alternates
    assert GlossaryTerm.objects.get(slug="covariate-shift").term_en == "covariate shift"


BRITISH = re.compile(
    r"\b\w+(isation|isations|ise|ised|ises|ising|iser|isers|elled|elling)\b", re.IGNORECASE
)
BRITISH_OK = {
    "exercise",
    "exercises",
    "noise",
    "concise",
    "raises",
    "otherwise",
    "promise",
    "our",
    "your",
    "hour",
    "four",
    "course",
    "advise",
    "expertise",
    "precise",
    "supervised",
    "unsupervised",
    "layerwise",
    "promising",
    "rise",
    "premise",
    "wise",
    "likewise",
    "devise",
}


def english_prose():
    for model in _bilingual_models():
        for obj in model.objects.all():
            for field in _text_fields(model, "_en"):
                yield f"{model.__name__}:{obj.pk}:{field}", getattr(obj, field)


def test_one_english_spelling_convention(content):
    found = []
    for where, text in english_prose():
        for match in BRITISH.finditer(text or ""):
            if match.group(0).lower() not in BRITISH_OK:
                found.append((where, match.group(0)))
    assert found == []


# ------------------------------------------------------------- overlap with the thesis


def _bilingual_models():
    from django.apps import apps

    return [
        m
        for m in apps.get_app_config("guide").get_models()
        if m.__name__ != "SearchDocument" and any(f.name.endswith("_es") for f in m._meta.fields)
    ]


def _text_fields(model, suffix):
    return [
        f.name
        for f in model._meta.fields
        if f.name.endswith(suffix) and isinstance(f, models.TextField | models.CharField)
    ]


def _seed_grams() -> set[tuple[str, ...]]:
    text = re.sub(r"-\n\s*", "", SEED.read_text(encoding="utf-8"))  # join hyphenated lines
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + RUN]) for i in range(len(words) - RUN + 1)}


def shared_runs(text: str, grams: set) -> list[str]:
    """Runs of RUN consecutive words shared with the thesis, except lists of names."""
    tokens = list(WORD.finditer(text))
    words = [t.group(0).lower() for t in tokens]
    runs = []
    for i in range(len(words) - RUN + 1):
        if tuple(words[i : i + RUN]) in grams:
            span = text[tokens[i].start() : tokens[i + RUN - 1].end()]
            items = re.split(r"[,;]", span)
            short = [item for item in items if len(WORD.findall(item)) <= 3]
            is_list = len(items) >= 4 and len(short) >= 0.75 * len(items)
            if not is_list:
                runs.append(span)
    return runs


def test_the_overlap_measure_catches_a_copied_sentence():
    grams = _seed_grams()
    copied = (
        "Se realiza una implementación de BatchNorm para intentar mejorar la ConvNet previamente "
        "desarrollada."
    )
    assert shared_runs(copied.replace(" para", " [Ioffe y Szegedy 2015] para"), grams)
    assert (
        shared_runs(
            "brightness, contrast, crop, flip, jitter, pad, perspective warp, "
            "rotate, rgb randomize, skew, squish, symmetric warp, tilt, zoom",
            grams,
        )
        == []
    )


def test_no_spanish_prose_shares_twelve_words_with_the_thesis(content):
    grams = _seed_grams()
    found = {}
    for model in _bilingual_models():
        for obj in model.objects.all():
            for field in _text_fields(model, "_es"):
                runs = shared_runs(getattr(obj, field) or "", grams)
                if runs:
                    found[f"{model.__name__} {obj} {field}"] = runs
    assert found == {}


# ------------------------------------------------------------- search in both languages


def test_a_glossary_hit_shows_both_languages(content, client):
    hits = search("covariate shift", lang="en")["term"]
    assert "desplazamiento de las covariables" in str(hits[0].other_title)
    hits = search("sobreajuste", lang="es")["term"]
    assert "overfitting" in str(hits[0].other_title)
    html = client.get("/search/?q=overfitting", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="es"' in html and "sobreajuste" in html
    html = client.get("/search/?q=sobreajuste", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert 'class="other-language" lang="en"' in html and "overfitting" in html
