from django import template
from django.utils.html import format_html

from ..models.bilingual import current_language

register = template.Library()


@register.filter
def tr(obj, name: str):
    """`{{ course|tr:"summary" }}`: the field in the active language (English fallback)."""
    return obj.tr(name)


@register.filter
def tr_list(obj, name: str) -> list:
    value = getattr(obj, f"{name}_{current_language()}", None)
    return value or getattr(obj, f"{name}_en", []) or []


@register.simple_tag
def unit_title(unit) -> str:
    """`{% unit_title unit %}`: the title in the active language, the original English beside it."""
    if not unit.shows_original:
        return format_html("{}", unit.title)
    return format_html(
        '{} <span class="original-title" lang="en">({})</span>', unit.localized_title(), unit.title
    )


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (for sort/facet links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key, "") if mapping else ""
