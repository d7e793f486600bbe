from django.contrib.postgres.search import SearchVectorField
from django.db import models


class SearchDocument(models.Model):
    """One searchable thing (course, lesson, topic, glossary term), denormalised for search.

    Rebuilt from the content by `guide.search.index.rebuild()` after every load or admin edit.
    On Postgres the two vectors (title weight A, body weight C; English, Spanish and 'simple'
    configurations over unaccented text) are filled in SQL and GIN-indexed; `title_plain` has a
    trigram index for the typo fallback. SQLite ignores the vector columns.
    """

    COURSE, UNIT, TOPIC, TERM = "course", "unit", "topic", "term"
    KINDS = [(COURSE, "course"), (UNIT, "lesson"), (TOPIC, "topic"), (TERM, "glossary term")]

    kind = models.CharField(max_length=10, choices=KINDS)
    key = models.CharField(max_length=100)
    url = models.CharField(max_length=300)
    title_en = models.CharField(max_length=400)
    title_es = models.CharField(max_length=400)
    body_en = models.TextField(blank=True)
    body_es = models.TextField(blank=True)
    title_plain = models.TextField(help_text="Both titles, folded (lower case, no accents).")
    body_plain = models.TextField(blank=True)
    title_vector = SearchVectorField(null=True, editable=False)
    body_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="unique_search_doc")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
