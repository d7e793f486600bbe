"""Glossary practice with spaced repetition (Leitner boxes), and the glossary as CSV / Anki.

A card is one term asked in one direction (Spanish → English or English → Spanish). A right
answer moves the card up a box and pushes its next review further away (INTERVAL_DAYS); a wrong
answer sends it back to box 0, due again today after the other due cards. State lives in the
session for anonymous learners and in GlossaryCard rows for signed-in ones, like unit progress.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from django.http import HttpRequest

from .models import GlossaryCard, GlossaryTerm
from .models.glossary import fold

INTERVAL_DAYS = [0, 1, 3, 7, 16, 35]
DIRECTIONS = (GlossaryCard.ES_EN, GlossaryCard.EN_ES)
SESSION_KEY = "guide_glossary_cards"
# How many of the latest answers keep their term out of the next question.
RECENT_TERMS = 3
CSV_COLUMNS = [
    "slug",
    "spanish",
    "english",
    "spanish_alternates",
    "english_alternates",
    "acronyms",
    "definition_en",
    "definition_es",
]


@dataclass
class CardState:
    box: int = 0
    due: date | None = None  # None: never reviewed (a new card)
    seen: int = 0


def schedule(state: CardState, correct: bool, today: date, counter: int) -> CardState:
    """The card's state after an answer given `today` (counter: the review's sequence number)."""
    box = min(state.box + 1, len(INTERVAL_DAYS) - 1) if correct else 0
    return CardState(box, today + timedelta(days=INTERVAL_DAYS[box]), counter)


def accepted_answers(term: GlossaryTerm, direction: str) -> list[str]:
    if direction == GlossaryCard.ES_EN:
        return [term.term_en, *term.en_alternates, *term.acronyms]
    return [term.term_es, *term.es_alternates, *term.acronyms]


def is_correct(term: GlossaryTerm, direction: str, answer: str) -> bool:
    """Case, accents, hyphens and extra spaces do not matter."""

    def norm(text: str) -> str:
        return " ".join(fold(text).replace("-", " ").split())

    given = norm(answer)
    return bool(given) and given in {norm(a) for a in accepted_answers(term, direction)}


def prompt(term: GlossaryTerm, direction: str) -> str:
    return term.term_es if direction == GlossaryCard.ES_EN else term.term_en


# ---------------------------------------------------------------- storage


def load_states(request: HttpRequest) -> dict[tuple[str, str], CardState]:
    if request.user.is_authenticated:
        return {
            (card.term.slug, card.direction): CardState(card.box, card.due, card.seen)
            for card in GlossaryCard.objects.filter(user=request.user).select_related("term")
        }
    states = {}
    for key, value in request.session.get(SESSION_KEY, {}).items():
        slug, _, direction = key.partition(":")
        states[(slug, direction)] = CardState(
            int(value["box"]), date.fromisoformat(value["due"]), int(value["seen"])
        )
    return states


def save_state(request: HttpRequest, term: GlossaryTerm, direction: str, state: CardState):
    if request.user.is_authenticated:
        GlossaryCard.objects.update_or_create(
            user=request.user,
            term=term,
            direction=direction,
            defaults={"box": state.box, "due": state.due, "seen": state.seen},
        )
        return
    cards = dict(request.session.get(SESSION_KEY, {}))
    cards[f"{term.slug}:{direction}"] = {
        "box": state.box,
        "due": state.due.isoformat(),
        "seen": state.seen,
    }
    request.session[SESSION_KEY] = cards


def next_card(
    terms: list[GlossaryTerm],
    states: dict[tuple[str, str], CardState],
    directions: tuple[str, ...],
    today: date,
) -> tuple[GlossaryTerm, str] | None:
    """The card to ask now: the longest-due reviewed card, else the next new one.

    Terms asked in the last RECENT_TERMS reviews wait their turn while another card is available:
    a missed card does not come straight back, and the reverse of a card is not asked right after
    the answer that gives it away.
    """
    by_slug = {t.slug: t for t in terms}
    due = sorted(
        (state.due, state.seen, slug, direction)
        for (slug, direction), state in states.items()
        if direction in directions and state.due is not None and state.due <= today
    )
    candidates = [(by_slug[slug], direction) for *_, slug, direction in due if slug in by_slug]
    candidates += [
        (term, direction)
        for term in terms
        for direction in directions
        if (term.slug, direction) not in states
    ]
    recent = recent_terms(states)
    fresh = (c for c in candidates if c[0].slug not in recent)
    return next(fresh, candidates[0] if candidates else None)


def recent_terms(states: dict[tuple[str, str], CardState]) -> set[str]:
    """The terms of the last RECENT_TERMS answers (each answer gets the next `seen` number)."""
    latest = max((state.seen for state in states.values()), default=0)
    return {slug for (slug, _d), state in states.items() if state.seen > latest - RECENT_TERMS}


# ---------------------------------------------------------------- exports


def glossary_csv(terms: list[GlossaryTerm]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for t in terms:
        writer.writerow(
            [
                t.slug,
                t.term_es,
                t.term_en,
                "; ".join(t.es_alternates),
                "; ".join(t.en_alternates),
                "; ".join(t.acronyms),
                t.definition_en,
                t.definition_es,
            ]
        )
    return out.getvalue()


def _tsv_field(text: str) -> str:
    # Anki's plain-text import has no quoting here: tabs and newlines would split a note.
    return " ".join(text.replace("\t", " ").split())


def glossary_anki(terms: list[GlossaryTerm]) -> str:
    """Tab-separated notes with Anki's file headers: Spanish, English, definitions, tags."""
    lines = [
        "#separator:tab",
        "#html:false",
        "#columns:Spanish\tEnglish\tDefinition (en)\tDefinition (es)\tTags",
        "#tags column:5",
    ]
    for t in terms:
        spanish = ", ".join([t.term_es, *t.es_alternates])
        english = ", ".join([t.term_en, *t.en_alternates, *t.acronyms])
        fields = [spanish, english, t.definition_en, t.definition_es, "mooc-guide glossary"]
        lines.append("\t".join(_tsv_field(f) for f in fields))
    return "\n".join(lines) + "\n"
