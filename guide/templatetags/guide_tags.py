from django import template

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
