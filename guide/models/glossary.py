import unicodedata
from functools import lru_cache

from django.db import models
from django.urls import reverse

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

    slug = models.SlugField(unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    term_es = models.CharField(max_length=200)
    term_en = models.CharField(max_length=200)
    es_alternates = models.JSONField(default=list, blank=True)
    en_alternates = models.JSONField(default=list, blank=True)
    acronyms = models.JSONField(default=list, blank=True)
    definition_en = models.TextField(blank=True)
    definition_es = models.TextField(blank=True)
    topics = models.ManyToManyField(Topic, related_name="glossary_terms", blank=True)
    units = models.ManyToManyField(Unit, related_name="glossary_terms", blank=True)
    sort_key_es = models.CharField(max_length=250, editable=False, db_index=True)
    sort_key_en = models.CharField(max_length=250, editable=False, db_index=True)

    class Meta:
        ordering = ["sort_key_en"]

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
