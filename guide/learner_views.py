"""Learner pages: the study plan (HTML and .ics), ticking units as done, and sign-up."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from icalendar import Calendar, Event

from config.redirects import redirect_to_next

from .forms import PlanForm, SignUpForm
from .models import GlossaryCard, GlossaryTerm, StudyPath, Unit
from .plan import NOMINAL_HOURS_PER_WEEK, build_plan, next_unit
from .practice import (
    DIRECTIONS,
    CardState,
    accepted_answers,
    glossary_anki,
    glossary_csv,
    is_correct,
    load_states,
    next_card,
    prompt,
    save_state,
    schedule,
)
from .progress import done_units, set_done


def _plan_from_request(request: HttpRequest):
    """The bound form and, when valid, the plan; defaults fill what the URL leaves out."""
    paths = list(StudyPath.objects.all())
    data = {
        "path": request.GET.get("path") or (paths[0].slug if paths else ""),
        "hours": request.GET.get("hours") or NOMINAL_HOURS_PER_WEEK,
        "start": request.GET.get("start") or timezone.localdate().isoformat(),
    }
    form = PlanForm(data, paths=paths)
    if not form.is_valid():
        return form, None
    path = next(p for p in paths if p.slug == form.cleaned_data["path"])
    plan = build_plan(
        path,
        form.cleaned_data["hours"],
        form.cleaned_data["start"],
        done=done_units(request),
        today=timezone.localdate(),
    )
    return form, plan


def plan_page(request: HttpRequest) -> HttpResponse:
    form, plan = _plan_from_request(request)
    context = {"form": form, "plan": plan, "nominal_hours": NOMINAL_HOURS_PER_WEEK}
    if plan is not None:
        context.update(
            {
                "weeks": plan.weeks(),
                "next": next_unit(plan),
                "done_count": sum(u.done for u in plan.units),
                # Not "query": base.html fills the header search box with that.
                "plan_query": urlencode(form.data),
            }
        )
    return render(request, "guide/plan.html", context, status=200 if plan else 400)


def plan_calendar(request: HttpRequest) -> HttpResponse:
    """The plan as an iCalendar file: one all-day event per unit, in study order."""
    form, plan = _plan_from_request(request)
    if plan is None:
        return HttpResponseBadRequest(_("Invalid plan parameters."), content_type="text/plain")
    calendar = Calendar()
    calendar.add("prodid", "-//MOOC guide//study plan//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", plan.path.tr("title"))
    stamp = timezone.now()
    host = request.get_host().split(":")[0] or "localhost"
    for index, item in enumerate(plan.units, start=1):
        event = Event()
        event.add("uid", f"{plan.path.slug}-{plan.start.isoformat()}-{item.unit.slug}@{host}")
        event.add("dtstamp", stamp)
        event.add("summary", f"{item.unit.label()}: {item.unit.title_with_original()}")
        event.add("dtstart", item.start)
        event.add("dtend", item.end + timedelta(days=1))  # DTEND of an all-day event is exclusive
        event.add("description", request.build_absolute_uri(item.unit.get_absolute_url()))
        event.add("sequence", 0)
        event.add("x-plan-order", str(index))
        calendar.add_component(event)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="study-plan-{plan.path.slug}.ics"'
    return response


@require_POST
def toggle_done(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = get_object_or_404(Unit, pk=unit_id)
    set_done(request, unit, request.POST.get("done") == "1")
    return redirect_to_next(request, request.POST.get("next"), unit.get_absolute_url())


def signup(request: HttpRequest) -> HttpResponse:
    """A learner account (not a researcher: it joins no group). Signs in on success."""
    if request.user.is_authenticated:
        return redirect("guide:plan")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(
                    form.cleaned_data["username"],
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                )
        except IntegrityError:  # a simultaneous sign-up took the name after the form's check
            form.add_error("username", _("That user name is taken."))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                _("Welcome, %(name)s: your account is ready and you are signed in.")
                % {"name": user.get_username()},
            )
            return redirect_to_next(request, request.POST.get("next"), reverse("guide:plan"))
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": request.GET.get("next") or request.POST.get("next", "")},
        status=400 if request.method == "POST" else 200,
    )


# ---------------------------------------------------------------- glossary practice and exports

PRACTICE_DIRECTIONS = {
    "both": DIRECTIONS,
    GlossaryCard.ES_EN: (GlossaryCard.ES_EN,),
    GlossaryCard.EN_ES: (GlossaryCard.EN_ES,),
}


def glossary_practice(request: HttpRequest) -> HttpResponse:
    """Ask one card; a POSTed answer is checked, scheduled, and the next card is asked."""
    mode = request.GET.get("direction") or request.POST.get("direction") or "both"
    if mode not in PRACTICE_DIRECTIONS:
        mode = "both"
    terms = list(GlossaryTerm.objects.order_by("order"))
    today_ = timezone.localdate()
    if request.method == "POST":
        slug, _sep, direction = (request.POST.get("card") or "").partition(":")
        term = next((t for t in terms if t.slug == slug), None)
        if term is None or direction not in DIRECTIONS:
            return HttpResponseBadRequest(_("Unknown card."), content_type="text/plain")
        answer = (request.POST.get("answer") or "")[:200]
        states = load_states(request)
        counter = max((s.seen for s in states.values()), default=0) + 1
        previous = states.get((slug, direction), CardState())
        correct = is_correct(term, direction, answer)
        save_state(request, term, direction, schedule(previous, correct, today_, counter))
        request.session["guide_practice_last"] = {
            "card": f"{slug}:{direction}",
            "answer": answer,
            "correct": correct,
        }
        return redirect(f"{reverse('guide:glossary_practice')}?direction={mode}")
    states = load_states(request)
    card = next_card(terms, states, PRACTICE_DIRECTIONS[mode], today_)
    last = request.session.pop("guide_practice_last", None)
    feedback = None
    if last:
        slug, _sep, direction = last["card"].partition(":")
        term = next((t for t in terms if t.slug == slug), None)
        if term is not None:
            feedback = {
                "correct": last["correct"],
                "answer": last["answer"],
                "prompt": prompt(term, direction),
                "expected": accepted_answers(term, direction)[0],
                "term": term,
            }
    upcoming = sorted(s.due for s in states.values() if s.due and s.due > today_)
    context = {
        "card": card,
        "prompt": prompt(*card) if card else "",
        "direction": card[1] if card else "",
        "mode": mode,
        "feedback": feedback,
        "reviewed": sum(1 for s in states.values() if s.due),
        "due_now": sum(1 for s in states.values() if s.due and s.due <= today_),
        "next_review": upcoming[0] if upcoming else None,
    }
    return render(request, "guide/practice.html", context)


def glossary_export_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        glossary_csv(list(GlossaryTerm.objects.order_by("order"))),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="glossary.csv"'
    return response


def glossary_export_anki(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        glossary_anki(list(GlossaryTerm.objects.order_by("order"))),
        content_type="text/tab-separated-values; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="glossary-anki.txt"'
    return response
