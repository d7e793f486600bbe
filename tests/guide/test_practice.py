"""Glossary exports (CSV and Anki round trips) and spaced-repetition practice."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from guide.models import GlossaryCard, GlossaryTerm
from guide.practice import INTERVAL_DAYS, SESSION_KEY, CardState, is_correct, next_card, schedule

pytestmark = pytest.mark.django_db
TODAY = date(2026, 2, 2)


def test_csv_export_round_trips(client, content):
    response = client.get("/glossary/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    terms = list(GlossaryTerm.objects.order_by("order"))
    assert len(rows) == len(terms) == 124
    for row, term in zip(rows, terms, strict=True):
        assert (row["slug"], row["spanish"], row["english"]) == (
            term.slug,
            term.term_es,
            term.term_en,
        )
        assert [a for a in row["english_alternates"].split("; ") if a] == term.en_alternates
        assert [a for a in row["spanish_alternates"].split("; ") if a] == term.es_alternates
        assert [a for a in row["acronyms"].split("; ") if a] == term.acronyms
        assert row["definition_es"] == term.definition_es


def test_anki_export_round_trips(client, content):
    response = client.get("/glossary/anki.txt")
    assert response.status_code == 200
    lines = response.content.decode("utf-8").splitlines()
    headers = [line for line in lines if line.startswith("#")]
    assert headers[0] == "#separator:tab" and "#html:false" in headers
    notes = [line.split("\t") for line in lines if not line.startswith("#")]
    terms = list(GlossaryTerm.objects.order_by("order"))
    assert len(notes) == len(terms)
    for fields, term in zip(notes, terms, strict=True):
        assert len(fields) == 5
        assert fields[0].split(", ")[0] == term.term_es
        assert fields[1].split(", ") == [term.term_en, *term.en_alternates, *term.acronyms]
        assert fields[2] == " ".join(term.definition_en.split())


def test_schedule_moves_cards_between_boxes():
    state = CardState()
    state = schedule(state, True, TODAY, 1)
    assert (state.box, state.due) == (1, TODAY + timedelta(days=INTERVAL_DAYS[1]))
    state = schedule(state, True, state.due, 2)
    assert state.box == 2 and state.due == TODAY + timedelta(days=1 + INTERVAL_DAYS[2])
    for counter in range(3, 20):
        state = schedule(state, True, TODAY, counter)
    assert state.box == len(INTERVAL_DAYS) - 1
    assert state.due == TODAY + timedelta(days=INTERVAL_DAYS[-1])
    state = schedule(state, False, TODAY, 20)
    assert (state.box, state.due, state.seen) == (0, TODAY, 20)


def test_next_card_prefers_due_reviews_then_new_cards(content):
    terms = list(GlossaryTerm.objects.order_by("order")[:3])
    a, b, c = terms
    states = {
        (a.slug, "es-en"): CardState(2, TODAY + timedelta(days=3), 1),
        (b.slug, "es-en"): CardState(0, TODAY, 5),
        (c.slug, "es-en"): CardState(0, TODAY, 2),
    }
    assert next_card(terms, states, ("es-en",), TODAY) == (c, "es-en")  # seen longest ago
    del states[(c.slug, "es-en")]
    # b is the latest answer: it waits while a new card is there (issue 19), then comes back.
    assert next_card(terms, states, ("es-en",), TODAY) == (c, "es-en")
    assert next_card(terms[:2], states, ("es-en",), TODAY) == (b, "es-en")
    states[(b.slug, "es-en")] = CardState(1, TODAY + timedelta(days=1), 6)
    assert next_card(terms, states, ("es-en",), TODAY) == (c, "es-en")  # new
    assert next_card(terms, states, ("en-es",), TODAY) == (a, "en-es")


def test_answers_ignore_case_accents_hyphens_and_accept_alternates(content):
    cnn = GlossaryTerm.objects.get(term_en="convolutional neural network")
    assert is_correct(cnn, "es-en", "  Convolutional  Neural Network ")
    assert is_correct(cnn, "es-en", "convnet") and is_correct(cnn, "es-en", "CNN")
    assert is_correct(cnn, "en-es", "red neuronal convolucional")
    assert is_correct(cnn, "en-es", "RED NEURONAL CONVOLUCIONAL")
    assert not is_correct(cnn, "es-en", "") and not is_correct(cnn, "es-en", "network")
    shift = GlossaryTerm.objects.get(slug="covariate-shift")
    assert is_correct(shift, "es-en", "covariate-shift") and is_correct(
        shift, "es-en", "covariate shift"
    )
    assert is_correct(shift, "en-es", "desplazamiento de las covariables")


def _ask(client, direction="es-en"):
    html = client.get(f"/glossary/practice/?direction={direction}").content.decode()
    card = html.split('name="card" value="')[1].split('"')[0]
    return card, GlossaryTerm.objects.get(slug=card.split(":")[0])


def test_practice_page_anonymous_then_kept_at_sign_in(client, content):
    card, term = _ask(client, "es-en")
    assert term.term_es in client.get("/glossary/practice/?direction=es-en").content.decode()
    response = client.post(
        "/glossary/practice/", {"card": card, "answer": term.term_en, "direction": "es-en"}
    )
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Right!" in html
    saved = client.session[SESSION_KEY][card]
    assert saved["box"] == 1
    next_card_key, next_term = _ask(client, "es-en")
    assert next_card_key != card  # the right answer is not due again today
    client.post(
        "/glossary/practice/", {"card": next_card_key, "answer": "wrong", "direction": "es-en"}
    )
    html = client.get("/glossary/practice/?direction=es-en").content.decode()
    assert "Not quite." in html and next_term.term_en in html

    user = get_user_model().objects.create_user("pia", password="a-long-pass-phrase")
    client.post("/accounts/login/", {"username": "pia", "password": "a-long-pass-phrase"})
    cards = {(c.term.slug, c.direction): c for c in GlossaryCard.objects.filter(user=user)}
    assert cards[(term.slug, "es-en")].box == 1
    assert cards[(next_term.slug, "es-en")].due == timezone.localdate()
    # Signed in: answers go to the account.
    card2, term2 = _ask(client, "en-es")
    client.post(
        "/glossary/practice/", {"card": card2, "answer": term2.term_es, "direction": "en-es"}
    )
    assert GlossaryCard.objects.get(user=user, term=term2, direction="en-es").box == 1


@pytest.mark.parametrize("card", ["nope:es-en", "", "convolutional-neural-network:xx"])
def test_bad_practice_posts_are_400(client, content, card):
    assert client.post("/glossary/practice/", {"card": card, "answer": "x"}).status_code == 400


def test_practice_page_in_spanish_and_bad_direction(client, content):
    html = client.get("/glossary/practice/?direction=sideways", HTTP_ACCEPT_LANGUAGE="es")
    assert html.status_code == 200 and "Práctica del glosario" in html.content.decode()
