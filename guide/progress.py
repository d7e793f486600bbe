"""Which units a learner has done: in the session when anonymous, in the database when signed in.

At sign-in the session's ticks are carried over to the account (see `carry_over`).
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from .models import Unit, UnitProgress

SESSION_KEY = "guide_done_units"


def done_units(request: HttpRequest) -> set[int]:
    if request.user.is_authenticated:
        return set(UnitProgress.objects.filter(user=request.user).values_list("unit_id", flat=True))
    return {int(pk) for pk in request.session.get(SESSION_KEY, [])}


def set_done(request: HttpRequest, unit: Unit, done: bool) -> None:
    if request.user.is_authenticated:
        if done:
            UnitProgress.objects.get_or_create(user=request.user, unit=unit)
        else:
            UnitProgress.objects.filter(user=request.user, unit=unit).delete()
        return
    ticked = set(request.session.get(SESSION_KEY, []))
    if done:
        ticked.add(unit.pk)
    else:
        ticked.discard(unit.pk)
    request.session[SESSION_KEY] = sorted(ticked)


@receiver(user_logged_in, dispatch_uid="guide-progress-carry-over")
def carry_over(sender, request, user, **kwargs) -> None:
    """Save what the anonymous session ticked into the account that just signed in."""
    if request is None or not hasattr(request, "session"):
        return
    _carry_over_cards(request, user)
    ticked = request.session.get(SESSION_KEY, [])
    if not ticked:
        return
    existing = Unit.objects.filter(pk__in=ticked).values_list("pk", flat=True)
    UnitProgress.objects.bulk_create(
        [UnitProgress(user=user, unit_id=pk) for pk in existing], ignore_conflicts=True
    )
    request.session.pop(SESSION_KEY, None)


def _carry_over_cards(request, user) -> None:
    """Glossary practice done anonymously joins the account (the account's own state wins)."""
    from .models import GlossaryCard, GlossaryTerm
    from .practice import SESSION_KEY as CARDS_KEY

    cards = request.session.pop(CARDS_KEY, None) or {}
    terms = {
        t.slug: t for t in GlossaryTerm.objects.filter(slug__in=[k.split(":")[0] for k in cards])
    }
    GlossaryCard.objects.bulk_create(
        [
            GlossaryCard(
                user=user,
                term=terms[key.split(":")[0]],
                direction=key.split(":")[1],
                box=value["box"],
                due=value["due"],
                seen=value["seen"],
            )
            for key, value in cards.items()
            if key.split(":")[0] in terms
        ],
        ignore_conflicts=True,
    )
