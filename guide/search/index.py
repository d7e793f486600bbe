"""Builds SearchDocument rows from the content; fills the Postgres vectors in one statement."""

from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Coalesce

from ..models import GlossaryTerm, Mooc, SearchDocument, Topic, Unit
from ..models.glossary import fold

VECTOR_CONFIGS = ("simple", "english", "spanish")


def _docs() -> list[SearchDocument]:
    docs = []
    for m in Mooc.objects.prefetch_related("libraries"):
        docs.append(
            SearchDocument(
                kind=SearchDocument.COURSE,
                key=m.slug,
                url=m.get_absolute_url(),
                title_en=m.name,
                title_es=m.name_es or m.name,
                body_en=" ".join(
                    [
                        m.platform,
                        m.provider_en,
                        m.summary_en,
                        *m.content_areas_en,
                        *(lib.name for lib in m.libraries.all()),
                    ]
                ),
                body_es=" ".join([m.provider_es, m.summary_es, *m.content_areas_es]),
            )
        )
    for u in Unit.objects.select_related("programme"):
        docs.append(
            SearchDocument(
                kind=SearchDocument.UNIT,
                key=u.slug,
                url=u.get_absolute_url(),
                title_en=u.title,
                title_es=u.title_es or u.title,
                body_en=f"{u.summary_en} {u.advice_en}",
                body_es=f"{u.summary_es} {u.advice_es}",
            )
        )
    for t in Topic.objects.all():
        docs.append(
            SearchDocument(
                kind=SearchDocument.TOPIC,
                key=t.slug,
                url=t.get_absolute_url(),
                title_en=t.name_en,
                title_es=t.name_es,
            )
        )
    for g in GlossaryTerm.objects.all():
        extra = " ".join([*g.en_alternates, *g.acronyms])
        docs.append(
            SearchDocument(
                kind=SearchDocument.TERM,
                key=g.slug,
                url=g.get_absolute_url(),
                title_en=f"{g.term_en} {extra}".strip(),
                title_es=" ".join([g.term_es, *g.es_alternates]),
                body_en=g.definition_en,
                body_es=g.definition_es,
            )
        )
    for doc in docs:
        doc.title_plain = fold(f"{doc.title_en} {doc.title_es}")
        doc.body_plain = fold(f"{doc.body_en} {doc.body_es}")
    return docs


def _vector(field_en: str, field_es: str, weight: str):
    """Both languages' text, unaccented, under the simple, English and Spanish parsers."""
    parts = []
    for config in VECTOR_CONFIGS:
        for name in (field_en, field_es):
            text = Func(
                Coalesce(F(name), Value(""), output_field=TextField()),
                function="unaccent",
                output_field=TextField(),
            )
            parts.append(SearchVector(text, config=config, weight=weight))
    vector = parts[0]
    for part in parts[1:]:
        vector = vector + part
    return vector


@transaction.atomic
def rebuild() -> int:
    """Replace the whole index (a few hundred rows: cheaper than tracking changes)."""
    docs = _docs()
    SearchDocument.objects.all().delete()
    SearchDocument.objects.bulk_create(docs)
    if connection.vendor == "postgresql":
        SearchDocument.objects.update(
            title_vector=_vector("title_en", "title_es", "A"),
            body_vector=_vector("body_en", "body_es", "C"),
        )
    return len(docs)
