"""Bilingual content: every prose field is stored twice, as <name>_en and <name>_es."""

from django.db import models
from django.utils.translation import get_language

CONTENT_LANGUAGES = ("en", "es")


def current_language() -> str:
    lang = (get_language() or "en")[:2]
    return lang if lang in CONTENT_LANGUAGES else "en"


class Bilingual(models.Model):
    """Adds `tr(name)`: the field in the active language, falling back to English."""

    class Meta:
        abstract = True

    def tr(self, name: str):
        value = getattr(self, f"{name}_{current_language()}", None)
        return value if value else getattr(self, f"{name}_en", "")
