"""Learner pages: content shown, query budgets, languages, filters, bad input."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

CATALOGUE_PAGES = [
    "/",
    "/courses/",
    "/courses/?platform=Udacity&price=free&certificate=no&library=pytorch&duration=short&sort=price",
    "/courses/deep-learning-specialization/",
    "/programmes/ng/",
    "/programmes/fastai/",
    "/programmes/ng/ng-4/",
    "/programmes/fastai/fastai-7/",
    "/compare/",
    "/compare/?only=fastai",
    "/glossary/",
    "/glossary/?q=convolucion",
    "/recommend/",
    "/recommend/?approach=practice&budget=free&certificate=no&hours=10&library=pytorch&programming_year=yes",
    "/keras-vs-fastai/",
    "/search/?q=transfer+learning",
]


@pytest.mark.parametrize("url", CATALOGUE_PAGES)
def test_catalogue_pages_stay_within_ten_queries(
    client, content, url, django_assert_max_num_queries
):
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/courses/no-such-course/",
        "/programmes/nope/",
        "/programmes/ng/fastai-1/",
        "/programmes/ng/ng-9/",
        "/glossary/no-such-term/",
    ],
)
def test_unknown_slugs_are_404_pages(client, content, url):
    response = client.get(url)
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_course_detail_shows_every_fact(client, content):
    html = client.get("/courses/deep-learning-nanodegree/").content.decode()
    for fact in [
        "Udacity",
        "359",
        "12 h/week",
        "PyTorch",
        "NumPy",
        "https://www.udacity.com/course/deep-learning-nanodegree--nd101",
    ]:
        assert fact in html


def test_course_facets_filter_and_sort(client, content):
    html = client.get("/courses/?price=free&sort=duration").content.decode()
    slugs = re.findall(r'data-slug="([\w-]+)"', html)
    assert "deep-learning-specialization" not in slugs  # 44 €/month
    assert slugs[0] == "intro-to-tensorflow-for-deep-learning" or slugs[0].startswith("intro")
    assert "fastai-course-v3" in slugs and "ibm-deep-learning-professional-certificate" in slugs
    html = client.get("/courses/?certificate=yes&library=keras").content.decode()
    assert set(re.findall(r'data-slug="([\w-]+)"', html)) == {
        "deep-learning-specialization",
        "ibm-deep-learning-professional-certificate",
    }


def test_bad_facets_do_not_break_the_catalogue(client, content):
    response = client.get("/courses/?price=cheap&duration=forever&sort=%27;drop")
    assert response.status_code == 200
    assert "were not understood" in response.content.decode()
    assert len(re.findall(r'data-slug="', response.content.decode())) == 7


def test_unit_page_shows_cross_references_from_both_sides(client, content):
    html = client.get("/programmes/ng/ng-4/").content.decode()
    assert "Complements this" in html
    assert reverse("guide:unit_detail", args=["fastai", "fastai-1"]) in html
    html = client.get("/programmes/fastai/fastai-1/").content.decode()
    assert reverse("guide:unit_detail", args=["ng", "ng-4"]) in html
    assert "Image classification" in html


def test_spanish_titles_keep_the_original_beside_them(client, content):
    client.cookies["django_language"] = "es"
    html = client.get("/programmes/fastai/fastai-1/").content.decode()
    assert re.search(
        r'<h1>.*Clasificación de imágenes <span class="original-title" lang="en">'
        r"\(Image classification\)</span></h1>",
        html,
        re.S,
    )
    assert "<title>Clasificación de imágenes ·" in html
    assert "Limpieza de datos y puesta en producción; SGD desde cero →</a>" in html  # next lesson
    html = client.get("/programmes/ng/").content.decode()
    assert "Redes neuronales convolucionales" in html
    assert '<span class="original-title" lang="en">(Convolutional Neural Networks)</span>' in html
    # In English the original title stands alone.
    client.cookies["django_language"] = "en"
    html = client.get("/programmes/fastai/fastai-1/").content.decode()
    assert "Clasificación" not in html and "original-title" not in html


def test_compare_filters(client, content):
    html = client.get("/compare/?only=ng").content.decode()
    rows = re.findall(r'<tr id="([\w-]+)" class="coverage-(\w+)"', html)
    assert rows and all(coverage == "ng" for _, coverage in rows)
    assert "object-detection" in dict(rows)
    html = client.get("/compare/?only=both").content.decode()
    assert len(re.findall(r'class="coverage-both"', html)) == 29
    html = client.get("/compare/?only=<script>").content.decode()
    assert len(re.findall(r'<tr id="', html)) == 63


def test_spanish_interface_and_content(client, content):
    client.cookies["django_language"] = "es"
    html = client.get("/courses/fastai-course-v3/").content.decode()
    assert 'lang="es"' in html
    assert "Gratuito" in html or "Gratis" in html
    assert "Buscar" in html
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/glossary/"})
    assert response.status_code == 302
    assert 'lang="en"' in client.get("/glossary/").content.decode()


def test_glossary_spanish_order_accents_and_enye(client, content):
    client.cookies["django_language"] = "es"
    html = client.get("/glossary/").content.decode()
    letters = re.findall(r'<section id="letter-(\w+)">', html)
    assert letters == sorted(letters, key=lambda c: "N~" if c == "Ñ" else c)
    terms = re.findall(r'<dt id="[\w-]+"><a href="#[\w-]+" class="anchor">([^<]+)</a>', html)
    from guide.models.glossary import spanish_sort_key

    assert terms == sorted(terms, key=spanish_sort_key)
    assert len(terms) == 124


def test_spanish_sort_key_puts_enye_after_n():
    from guide.models.glossary import spanish_sort_key

    words = ["ñandú", "nube", "árbol", "oso", "azul", "neurona"]
    assert sorted(words, key=spanish_sort_key) == [
        "árbol",
        "azul",
        "neurona",
        "nube",
        "ñandú",
        "oso",
    ]


def test_glossary_search_is_accent_insensitive_in_both_languages(client, content):
    html = client.get("/glossary/?q=eliminacion+de+enlaces").content.decode()
    assert re.findall(r'<dt id="([\w-]+)"', html) == ["dropout"]
    html = client.get("/glossary/?q=regularizacion+L2").content.decode()
    assert 'id="weight-decay"' in html
    html = client.get("/glossary/?q=CONVOLUTIONAL").content.decode()
    assert 'id="convolutional-neural-network"' in html
    html = client.get("/glossary/?q=red+neuronal+convolucional").content.decode()
    assert 'id="convolutional-neural-network"' in html


def test_glossary_term_url_redirects_to_its_anchor(client, content):
    response = client.get("/glossary/convolutional-neural-network/")
    assert response.status_code == 302
    assert response["Location"] == "/glossary/#convolutional-neural-network"


def test_recommendation_ranks_and_explains(client, content):
    html = client.get(
        "/recommend/?approach=practice&budget=free&certificate=no&hours=10"
        "&library=fastai&programming_year=yes"
    ).content.decode()
    ranking = re.findall(r'<li class="rec" data-slug="([\w-]+)"', html)
    assert ranking[0] == "fastai-course-v3"
    assert "Learning by doing" in html
    assert 'id="path-' in html and "Your study path" in html

    html = client.get(
        "/recommend/?approach=theory&budget=any&certificate=yes&hours=10"
        "&library=keras&programming_year=no"
    ).content.decode()
    ranking = re.findall(r'<li class="rec" data-slug="([\w-]+)"', html)
    assert ranking[0] == "deep-learning-specialization"
    assert ranking.index("fastai-course-v3") > 3


def test_recommendation_without_javascript_reports_invalid_answers(client, content):
    response = client.get("/recommend/?approach=maybe&hours=0&library=java")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please answer every question" in html
    assert 'class="rec"' not in html
    assert html.count('class="error"') >= 4


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "x" * 1000,
        "!!!???...",
        "'; DROP TABLE guide_mooc; --",
        "<script>alert(1)</script>",
        '"unbalanced',
        "OR OR -",
        "%_\\",
    ],
)
def test_search_page_survives_bad_queries(client, content, query):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content


def test_library_comparison_shows_each_stage_and_links_to_live_results(client, content):
    html = client.get("/keras-vs-fastai/").content.decode()
    for stage in ["cleaning", "loading-preprocessing", "model-setup", "training", "interpretation"]:
        assert f'id="{stage}"' in html
    assert 'href="/experiments/table-4-2/"' in html


def test_language_switch_is_a_plain_link_that_stays_on_the_page(client, content):
    response = client.get("/language/es/", {"next": "/glossary/?q=red"})
    assert response.status_code == 302 and response["Location"] == "/glossary/?q=red"
    assert response.cookies["django_language"].value == "es"
    assert 'lang="es"' in client.get("/glossary/").content.decode()
    outside = client.get("/language/en/", {"next": "https://evil.example/"})
    assert outside["Location"] == "/"
    assert client.get("/language/fr/").status_code == 404


def test_cached_search_page_follows_content_edits(client, content):
    from guide.models import Mooc
    from guide.search.index import rebuild

    first = client.get("/search/", {"q": "quokka"}).content.decode()
    assert "Nothing found" in first
    assert "Nothing found" in client.get("/search/", {"q": "quokka"}).content.decode()
    Mooc.objects.filter(slug="fastai-course-v3").update(summary_en="Now with a quokka.")
    rebuild()  # what an admin save triggers
    html = client.get("/search/", {"q": "quokka"}).content.decode()
    assert "fastai course v3" in html and "<mark>quokka</mark>" in html
