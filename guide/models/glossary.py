import unicodedata
from functools import lru_cache

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .bilingual import Bilingual
from .programmes import Unit
from .topics import Topic


@lru_cache(maxsize=100_000)
def fold(text: str) -> str:
    """Lower-case and strip accents: 'Régularización' -> 'regularizacion'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def spanish_sort_key(text: str) -> str:
    """Spanish alphabetical order: accents ignored, ñ is its own letter after n."""
    return fold(text.lower().replace("ñ", "\x00")).replace("\x00", "n~")


def index_letter(text: str, lang: str) -> str:
    first = text.strip()[:1].lower()
    if lang == "es" and first == "ñ":
        return "Ñ"
    letter = fold(first).upper()
    return letter if letter.isalpha() else "#"


class GlossaryTerm(Bilingual):
    """A Spanish–English term pair of thesis Appendix B."""

    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    term_es = models.CharField(max_length=200, verbose_name=_("Spanish term"))
    term_en = models.CharField(max_length=200, verbose_name=_("English term"))
    es_alternates = models.JSONField(default=list, blank=True, verbose_name=_("Spanish alternates"))
    en_alternates = models.JSONField(default=list, blank=True, verbose_name=_("English alternates"))
    acronyms = models.JSONField(default=list, blank=True, verbose_name=_("acronyms"))
    definition_en = models.TextField(blank=True, verbose_name=_("definition (English)"))
    definition_es = models.TextField(blank=True, verbose_name=_("definition (Spanish)"))
    topics = models.ManyToManyField(
        Topic, related_name="glossary_terms", blank=True, verbose_name=_("topics")
    )
    units = models.ManyToManyField(
        Unit, related_name="glossary_terms", blank=True, verbose_name=_("units")
    )
    sort_key_es = models.CharField(
        max_length=250, editable=False, db_index=True, verbose_name=_("Spanish sort key")
    )
    sort_key_en = models.CharField(
        max_length=250, editable=False, db_index=True, verbose_name=_("English sort key")
    )

    class Meta:
        ordering = ["sort_key_en"]
        verbose_name = _("glossary term")
        verbose_name_plural = _("glossary terms")

    def __str__(self) -> str:
        return f"{self.term_es} / {self.term_en}"

    def save(self, *args, **kwargs) -> None:
        self.sort_key_es = spanish_sort_key(self.term_es)
        self.sort_key_en = fold(self.term_en)
        super().save(*args, **kwargs)

    def term(self, lang: str) -> str:
        return self.term_es if lang == "es" else self.term_en

    def get_absolute_url(self) -> str:
        return reverse("guide:glossary") + f"#{self.slug}"
