"""Learner-facing pages of the guide. Every page stays within a handful of SQL queries."""

import hashlib

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from config.redirects import redirect_to_next

from .forms import CourseFilterForm, RecommendForm
from .models import (
    CrossReference,
    GlossaryTerm,
    Mooc,
    PipelineStage,
    Programme,
    ProgrammeComparison,
    StudyPath,
    Topic,
    Unit,
)
from .models.bilingual import current_language
from .models.glossary import fold, index_letter
from .page_cache import kept_for_visitors
from .progress import done_units
from .recommend import recommend_courses
from .search import search
from .search.query import index_version

KIND_LABELS = {
    "course": lambda: _("Courses"),
    "unit": lambda: _("Courses and lessons of the two programmes"),
    "topic": lambda: _("Topics"),
    "term": lambda: _("Glossary"),
}


@kept_for_visitors
def home(request: HttpRequest) -> HttpResponse:
    programmes = Programme.objects.select_related("mooc")
    return render(
        request,
        "guide/home.html",
        {
            "programmes": programmes,
            "course_count": Mooc.objects.count(),
            "paths": StudyPath.objects.all(),
        },
    )


@kept_for_visitors
def course_list(request: HttpRequest) -> HttpResponse:
    moocs = list(Mooc.objects.prefetch_related("libraries"))
    form = CourseFilterForm(request.GET or None, moocs=moocs)
    shown = form.apply(moocs) if form.is_bound and form.is_valid() else moocs
    return render(
        request,
        "guide/course_list.html",
        {"form": form, "moocs": shown, "total": len(moocs), "facets": form.facet_counts(moocs)},
    )


@kept_for_visitors
def course_detail(request: HttpRequest, slug: str) -> HttpResponse:
    mooc = get_object_or_404(Mooc.objects.prefetch_related("libraries"), slug=slug)
    programme = Programme.objects.filter(mooc=mooc).first()
    context = {"mooc": mooc, "programme": programme}
    if programme is not None:
        context.update(_programme_progress(request, list(programme.units.all())))
    return render(request, "guide/course_detail.html", context)


def _programme_progress(request: HttpRequest, units: list[Unit]) -> dict:
    done = done_units(request)
    return {
        "done": done,
        "done_count": sum(u.pk in done for u in units),
        "unit_count": len(units),
        "next_unit": next((u for u in units if u.pk not in done), None) if done else None,
    }


@kept_for_visitors
def programme_detail(request: HttpRequest, slug: str) -> HttpResponse:
    programme = get_object_or_404(
        Programme.objects.select_related("mooc").prefetch_related("parts"), slug=slug
    )
    units = list(programme.units.prefetch_related("topics"))
    parts = list(programme.parts.all())
    for part in parts:
        part.unit_list = [u for u in units if u.part == part.number]
    return render(
        request,
        "guide/programme_detail.html",
        {
            "programme": programme,
            "units": units,
            "parts": parts,
            **_programme_progress(request, units),
        },
    )


@kept_for_visitors
def unit_detail(request: HttpRequest, programme: str, slug: str) -> HttpResponse:
    unit = get_object_or_404(
        Unit.objects.select_related("programme").prefetch_related(
            "readings",
            "topics",
            "glossary_terms",
            Prefetch(
                "fastai_references",
                queryset=CrossReference.objects.select_related("fastai_unit__programme"),
            ),
            Prefetch(
                "ng_references",
                queryset=CrossReference.objects.select_related("ng_unit__programme"),
            ),
        ),
        slug=slug,
        programme__slug=programme,
    )
    spanish = current_language() == "es"
    siblings = [
        (number, slug, title_es if spanish and title_es else title)
        for number, slug, title, title_es in Unit.objects.filter(
            programme=unit.programme
        ).values_list("number", "slug", "title", "title_es")
    ]
    index = [s[1] for s in siblings].index(unit.slug)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    # One list of (the other unit, reference) from whichever side this unit is on, grouped by
    # what the lesson does with the topic, then by the other unit.
    references = [(ref.fastai_unit, ref) for ref in unit.fastai_references.all()] + [
        (ref.ng_unit, ref) for ref in unit.ng_references.all()
    ]
    on_ng_side = unit.programme.slug != "fastai"
    sections = []
    for relation, _name in CrossReference.RELATIONS:
        grouped: dict[int, dict] = {}
        for other, ref in references:
            if ref.relation == relation:
                group = grouped.setdefault(other.pk, {"unit": other, "refs": []})
                group["refs"].append(ref)
        if grouped:
            sections.append(
                {
                    "relation": relation,
                    "label": relation_label(relation, on_ng_side),
                    "groups": sorted(grouped.values(), key=lambda g: g["unit"].number),
                }
            )
    return render(
        request,
        "guide/unit_detail.html",
        {
            "unit": unit,
            "programme": unit.programme,
            "previous": previous,
            "following": following,
            "xref_sections": sections,
            "done": unit.pk in done_units(request),
        },
    )


def relation_label(relation: str, on_ng_side: bool) -> str:
    """The heading over cross-references, worded from the side of the page's unit."""
    if on_ng_side:
        return {
            CrossReference.COMPLEMENTS: _("Complements this course"),
            CrossReference.IMPLEMENTS: _("Implements what this course explains"),
            CrossReference.GOES_FURTHER: _("fast.ai goes further: not taught in this course"),
        }[relation]
    return {
        CrossReference.COMPLEMENTS: _("Complements this lesson"),
        CrossReference.IMPLEMENTS: _("Explains what this lesson implements"),
        CrossReference.GOES_FURTHER: _("This lesson goes further than Ng et al.'s course"),
    }[relation]


COVERAGE_FILTERS = {"all", "ng", "fastai", "both"}


@kept_for_visitors
def compare(request: HttpRequest) -> HttpResponse:
    only = request.GET.get("only", "all")
    if only not in COVERAGE_FILTERS:
        only = "all"
    topics = list(
        Topic.objects.prefetch_related(
            Prefetch("units", queryset=Unit.objects.select_related("programme"))
        )
    )
    counts = {
        "all": len(topics),
        "both": sum(t.coverage == "both" for t in topics),
        "ng": sum(t.coverage == "ng" for t in topics),
        "fastai": sum(t.coverage == "fastai" for t in topics),
    }
    if only != "all":
        topics = [t for t in topics if t.coverage == only]
    return render(
        request,
        "guide/compare.html",
        {
            "topics": topics,
            "only": only,
            "counts": counts,
            "aspects": ProgrammeComparison.objects.all(),
        },
    )


@kept_for_visitors
def glossary(request: HttpRequest) -> HttpResponse:
    lang = current_language()
    other = "en" if lang == "es" else "es"
    query = (request.GET.get("q") or "").strip()[:100]
    terms = list(
        GlossaryTerm.objects.order_by(f"sort_key_{lang}").prefetch_related(
            "topics", Prefetch("units", queryset=Unit.objects.select_related("programme"))
        )
    )
    if query:
        needle = fold(query)
        terms = [t for t in terms if needle in _term_haystack(t)]
    sections: dict[str, list] = {}
    for term in terms:
        term.primary = term.term(lang)
        term.secondary = term.term(other)
        sections.setdefault(index_letter(term.primary, lang), []).append(term)
    return render(
        request,
        "guide/glossary.html",
        {
            "sections": list(sections.items()),
            "query": query,
            "lang": lang,
            "total": len(terms),
        },
    )


def _term_haystack(term: GlossaryTerm) -> str:
    return fold(
        " ".join(
            [
                term.term_es,
                term.term_en,
                *term.es_alternates,
                *term.en_alternates,
                *term.acronyms,
                term.definition_en,
                term.definition_es,
            ]
        )
    )


def glossary_term(request: HttpRequest, slug: str) -> HttpResponse:
    if not GlossaryTerm.objects.filter(slug=slug).exists():
        raise Http404(_("No glossary term with that name."))
    return redirect(reverse("guide:glossary") + f"#{slug}")


@kept_for_visitors
def recommend(request: HttpRequest) -> HttpResponse:
    form = RecommendForm(request.GET or None)
    context = {"form": form}
    if form.is_bound and form.is_valid():
        ranked, path = recommend_courses(form.cleaned_data)
        context.update({"ranked": ranked, "path": path})
    context["paths"] = StudyPath.objects.prefetch_related("steps__programme")
    return render(request, "guide/recommend.html", context)


@kept_for_visitors
def library_comparison(request: HttpRequest) -> HttpResponse:
    return render(request, "guide/library_comparison.html", {"stages": PipelineStage.objects.all()})


def switch_language(request: HttpRequest, code: str) -> HttpResponse:
    """A plain link (no form, no CSRF token on every page): set the language cookie, go back."""
    if code not in dict(settings.LANGUAGES):
        raise Http404(_("Unknown language."))
    response = redirect_to_next(request, request.GET.get("next"), "/")
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


SEARCH_PAGE_SECONDS = 3600


def search_view(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()
    lang = current_language()
    # Anonymous visitors all get the same page for the same query: keep it, keyed by the index
    # version (an edit changes it), so popular searches cost a cache lookup. The per-process
    # "local" cache: a restart (a deploy) drops pages rendered with older templates.
    cacheable = not request.COOKIES.get(settings.SESSION_COOKIE_NAME) and not get_messages(request)
    key = None
    if query and cacheable:
        digest = hashlib.sha1(request.get_full_path().encode()).hexdigest()
        key = f"guide-search-page:{index_version()}:{lang}:{digest}"
        cached = caches["local"].get(key)
        if cached is not None:
            return HttpResponse(cached)
    results = search(query, lang=lang) if query else {}
    groups = [(kind, KIND_LABELS[kind](), hits) for kind, hits in results.items()]
    response = render(
        request,
        "guide/search.html",
        {
            "query": query[:200],
            "groups": groups,
            "total": sum(len(h) for h in results.values()),
        },
    )
    if key is not None:
        caches["local"].set(key, response.content, SEARCH_PAGE_SECONDS)
    return response
