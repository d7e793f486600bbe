"""One search over courses, lessons, topics and glossary terms.

Postgres: weighted tsvectors (title A, body C) over unaccented text in the simple, English and
Spanish configurations, a websearch query, ts_rank, and a trigram word-similarity fallback on the
titles when full text finds nothing. SQLite: the same rules in Python (accent folding, stem-ish
word matching, AND of the words, title before body, a typo fallback), good for a few hundred
documents. Highlighting is done here for both, on escaped text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.cache import caches
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, F, Func, Q, TextField, Value
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import SearchDocument
from ..models.glossary import fold

MAX_QUERY_CHARS = 200
MAX_WORDS = 12
TRIGRAM_THRESHOLD = 0.45
TYPO_THRESHOLD = 0.75
KIND_ORDER = [SearchDocument.COURSE, SearchDocument.UNIT, SearchDocument.TOPIC, SearchDocument.TERM]
WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = set(
    "a an and the of for to in on with by or is are de del la las el los y e o u en con por para "
    "un una unos unas al lo que se".split()
)


@dataclass
class SearchHit:
    kind: str
    key: str
    url: str
    title: SafeString
    snippet: SafeString
    title_match: bool
    score: float
    # Glossary hits carry the term in the other language too, whatever the interface language.
    other_title: SafeString | str = ""
    other_lang: str = ""


def query_words(raw: str) -> list[str]:
    """The folded words of a query, without stop words, at most MAX_WORDS."""
    words = [w for w in WORD.findall(fold(raw[:MAX_QUERY_CHARS])) if w not in STOPWORDS]
    return words[:MAX_WORDS]


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    """A crude English/Spanish stemmer, enough to match plurals and -ing/-ción forms."""
    for suffix, keep in (
        ("aciones", 4),
        ("iciones", 4),
        ("ciones", 4),
        ("acion", 4),
        ("cion", 4),
        ("ings", 4),
        ("ing", 4),
        ("ies", 4),
        ("es", 3),
        ("ed", 4),
        ("s", 3),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=200_000)
def word_matches(token: str, word: str) -> bool:
    if token == word:
        return True
    token_stem, word_stem = _stem(token), _stem(word)
    return token_stem == word_stem or (len(token_stem) >= 4 and word_stem.startswith(token_stem))


def index_version() -> int:
    """Changes whenever the index is rebuilt (rows are replaced, so new ids)."""
    return SearchDocument.objects.order_by("-id").values_list("id", flat=True).first() or 0


def search(raw: str, lang: str = "en", per_kind: int = 20) -> dict[str, list[SearchHit]]:
    """Hits grouped by kind (course, unit, topic, term), best first within each kind.

    Results are cached per (index version, language, words): an edit rebuilds the index,
    which changes the version, so a cached answer is never stale.
    """
    words = query_words(raw or "")
    if not words:
        return {}
    digest = hashlib.sha1(" ".join(words).encode()).hexdigest()
    key = f"guide-search:{connection.vendor}:{index_version()}:{lang}:{per_kind}:{digest}"
    cached = caches["local"].get(key)
    if cached is not None:
        return cached
    if connection.vendor == "postgresql":
        scored, fuzzy = _postgres(" ".join(words))
    else:
        scored, fuzzy = _python(words)
    grouped: dict[str, list[SearchHit]] = {}
    for doc, title_match, score in scored:
        hits = grouped.setdefault(doc.kind, [])
        if len(hits) < per_kind:
            hits.append(_hit(doc, words, lang, title_match, score, fuzzy))
    results = {kind: grouped[kind] for kind in KIND_ORDER if kind in grouped}
    caches["local"].set(key, results, timeout=3600)
    return results


def _postgres(text: str) -> tuple[list[tuple[SearchDocument, bool, float]], bool]:
    """(scored documents, whether they came from the typo fallback)."""
    unaccented = Func(Value(text), function="unaccent", output_field=TextField())
    query = None
    for config in ("simple", "english", "spanish"):
        part = SearchQuery(unaccented, search_type="websearch", config=config)
        query = part if query is None else query | part
    fields = ["kind", "key", "url", "title_en", "title_es", "body_en", "body_es"]
    docs = (
        SearchDocument.objects.filter(Q(title_vector=query) | Q(body_vector=query))
        .annotate(
            title_match=ExpressionWrapper(Q(title_vector=query), output_field=BooleanField()),
            rank=SearchRank(F("title_vector"), query) + SearchRank(F("body_vector"), query) * 0.2,
        )
        .order_by("-title_match", "-rank", "title_en")
        .only(*fields)
    )
    found = [(d, d.title_match, d.rank) for d in docs]
    if found:
        return found, False
    similar = (
        SearchDocument.objects.annotate(
            similarity=TrigramWordSimilarity(Value(text), "title_plain")
        )
        .filter(similarity__gte=TRIGRAM_THRESHOLD)
        .order_by("-similarity", "title_en")
        .only(*fields)
    )
    return [(d, True, d.similarity) for d in similar], True


def _python(words: list[str]) -> tuple[list[tuple[SearchDocument, bool, float]], bool]:
    docs = list(SearchDocument.objects.all())
    found = []
    for doc in docs:
        title_words = WORD.findall(doc.title_plain)
        body_words = WORD.findall(doc.body_plain)
        in_title = [any(word_matches(w, t) for t in title_words) for w in words]
        in_body = [any(word_matches(w, b) for b in body_words) for w in words]
        if all(t or b for t, b in zip(in_title, in_body, strict=False)):
            score = sum(in_title) + 0.2 * sum(in_body)
            found.append((doc, all(in_title), score))
    if found:
        found.sort(key=lambda item: (not item[1], -item[2], item[0].title_en))
        return found, False
    similar = []
    for doc in docs:
        title_words = WORD.findall(doc.title_plain)
        if not title_words:
            continue
        best = [max(SequenceMatcher(None, w, t).ratio() for t in title_words) for w in words]
        similarity = sum(best) / len(best)
        if similarity >= TYPO_THRESHOLD:
            similar.append((doc, True, similarity))
    similar.sort(key=lambda item: (-item[2], item[0].title_en))
    return similar, True


def highlight(text: str, words: list[str], fuzzy: bool = False) -> SafeString:
    """Escape `text` and wrap the words that match the query in <mark>.
    With `fuzzy` (typo fallback results) near-misses are marked too."""
    out, last = [], 0
    for match in WORD.finditer(text):
        folded = fold(match.group())
        if any(word_matches(w, folded) or (fuzzy and _close(w, folded)) for w in words):
            out.append(escape(text[last : match.start()]))
            out.append(f"<mark>{escape(match.group())}</mark>")
            last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))


@lru_cache(maxsize=50_000)
def _close(token: str, word: str) -> bool:
    return len(token) >= 5 and SequenceMatcher(None, token, word).ratio() >= 0.85


def _snippet(body: str, words: list[str], width: int = 220) -> str:
    folded = fold(body)
    positions = [folded.find(w[:5]) for w in words if folded.find(w[:5]) >= 0]
    start = max(0, min(positions) - 60) if positions else 0
    piece = body[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(body) else "")


def _hit(
    doc: SearchDocument, words: list[str], lang: str, title_match: bool, score, fuzzy: bool
) -> SearchHit:
    title = doc.title_es if lang == "es" else doc.title_en
    body = (doc.body_es if lang == "es" else doc.body_en) or doc.body_en
    other_lang = "en" if lang == "es" else "es"
    other = ""
    if doc.kind == SearchDocument.TERM:
        other = highlight(doc.title_en if lang == "es" else doc.title_es, words, fuzzy)
    elif doc.kind == SearchDocument.UNIT and lang == "es" and doc.title_es != doc.title_en:
        other = highlight(doc.title_en, words, fuzzy)  # the original title beside the Spanish
    return SearchHit(
        other_title=other,
        other_lang=other_lang if other else "",
        kind=doc.kind,
        key=doc.key,
        url=doc.url,
        title=highlight(title, words, fuzzy),
        snippet=highlight(_snippet(body, words), words, fuzzy),
        title_match=bool(title_match),
        score=float(score or 0),
    )
