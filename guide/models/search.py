from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _


class SearchDocument(models.Model):
    """One searchable thing (course, lesson, topic, glossary term), denormalised for search.

    Rebuilt from the content by `guide.search.index.rebuild()` after every load or admin edit.
    On Postgres the two vectors (title weight A, body weight C; English, Spanish and 'simple'
    configurations over unaccented text) are filled in SQL and GIN-indexed; `title_plain` has a
    trigram index for the typo fallback. SQLite ignores the vector columns.
    """

    COURSE, UNIT, TOPIC, TERM = "course", "unit", "topic", "term"
    KINDS = [
        (COURSE, _("course")),
        (UNIT, _("lesson")),
        (TOPIC, _("topic")),
        (TERM, _("glossary term")),
    ]

    kind = models.CharField(max_length=10, choices=KINDS, verbose_name=_("kind"))
    key = models.CharField(max_length=100, verbose_name=_("key"))
    url = models.CharField(max_length=300, verbose_name=_("URL"))
    title_en = models.CharField(max_length=400, verbose_name=_("title (English)"))
    title_es = models.CharField(max_length=400, verbose_name=_("Spanish title"))
    body_en = models.TextField(blank=True, verbose_name=_("body (English)"))
    body_es = models.TextField(blank=True, verbose_name=_("body (Spanish)"))
    title_plain = models.TextField(
        help_text=_("Both titles, folded (lower case, no accents)."), verbose_name=_("plain titles")
    )
    body_plain = models.TextField(blank=True, verbose_name=_("plain body"))
    title_vector = SearchVectorField(null=True, editable=False, verbose_name=_("title vector"))
    body_vector = SearchVectorField(null=True, editable=False, verbose_name=_("body vector"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="unique_search_doc")]
        verbose_name = _("search document")
        verbose_name_plural = _("search documents")

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
