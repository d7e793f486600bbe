"""Search behaviour. Marked `search`: `make test` runs these on Postgres and again on SQLite."""

import pytest

from guide.search import search
from guide.search.query import highlight

pytestmark = [pytest.mark.django_db, pytest.mark.search]


def keys(results, kind):
    return [hit.key for hit in results.get(kind, [])]


def test_english_words_find_term_topic_and_lesson(content):
    results = search("convolutional neural network")
    assert keys(results, "term")[0] == "convolutional-neural-network"
    assert "convolutional-neural-networks" in keys(results, "topic")
    assert "ng-4" in keys(results, "unit")


def test_spanish_words_find_the_same_term(content):
    results = search("red neuronal convolucional", lang="es")
    assert keys(results, "term")[0] == "convolutional-neural-network"
    assert "convolutional-neural-networks" in keys(results, "topic")


def test_spanish_lesson_titles_are_found_with_the_original_beside(content):
    hit = next(
        h for h in search("clasificación de imágenes", lang="es")["unit"] if h.key == "fastai-1"
    )
    assert "Clasificación" in hit.title and "Image classification" in hit.other_title
    assert hit.other_lang == "en"
    english = next(h for h in search("image classification")["unit"] if h.key == "fastai-1")
    assert not english.other_title  # English readers see the original alone


def test_missing_accent_is_tolerated(content):
    with_accent = search("regularización")
    without = search("regularizacion")
    assert {k: keys(with_accent, k) for k in with_accent} == {k: keys(without, k) for k in without}
    assert "regularization" in keys(without, "topic")


def test_small_typo_is_tolerated(content):
    assert "convolutional-neural-networks" in keys(search("convolutinal"), "topic")
    results = search("transfer lerning")
    assert keys(results, "topic")[0] == "transfer-learning"
    assert keys(results, "term")[0] == "transfer-learning"


def test_title_matches_rank_above_body_matches(content):
    results = search("ResNet")
    assert keys(results, "unit")[0] == "fastai-7"  # "ResNets from scratch; ..."
    for hits in search("aprendizaje por transferencia").values():
        flags = [hit.title_match for hit in hits]
        assert flags == sorted(flags, reverse=True)


def test_results_are_grouped_by_kind_in_a_stable_order(content):
    results = search("transfer learning")
    assert list(results) == [k for k in ["course", "unit", "topic", "term"] if k in results]
    assert keys(search("Coursera"), "course") and not keys(search("Coursera"), "term")


def test_matches_are_highlighted_and_html_is_escaped(content):
    hit = search("dropout")["term"][0]
    assert "<mark>" in hit.title and "dropout" in hit.title.lower()
    marked = highlight("<b>Dropout</b> & more", ["dropout"])
    assert marked == "&lt;b&gt;<mark>Dropout</mark>&lt;/b&gt; &amp; more"


@pytest.mark.parametrize(
    "query", ["", "   ", "!!!", "the of and", "x" * 1000, "'; DROP TABLE x; --", '"', "-", "xyzzy"]
)
def test_degenerate_queries_return_nothing_quietly(content, query):
    assert search(query) == {}


def test_search_page_groups_and_highlights(client, content):
    html = client.get("/search/", {"q": "learning rate finder"}).content.decode()
    assert 'data-kind="topic"' in html and 'data-kind="unit"' in html
    assert "<mark>" in html
    client.cookies["django_language"] = "es"
    html = client.get("/search/", {"q": "aprendizaje por transferencia"}).content.decode()
    assert "aprendizaje por transferencia" in html.lower().replace("<mark>", "").replace(
        "</mark>", ""
    )


def test_search_api(client, content):
    response = client.get("/api/search/", {"q": "dropout"})
    assert response.status_code == 200
    assert any(hit["key"] == "dropout" for hit in response.json()["results"])
    assert client.get("/api/search/").status_code == 400
    assert client.get("/api/search/", {"q": "x" * 201}).status_code == 400
