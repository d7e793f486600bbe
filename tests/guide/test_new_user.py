"""Issue 19: what a new learner meets — their answers are kept from one page to the next."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone, translation

from guide.models import GlossaryTerm, StudyPath, Unit
from guide.plan import build_plan
from guide.practice import CardState, next_card

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """Requests in Spanish leave Spanish active in this thread; later tests expect English."""
    yield
    translation.activate("en")


TODAY = date(2026, 2, 2)
ANSWERS = "certificate=no&hours=5&library=fastai&programming_year=yes"


def test_plan_this_path_keeps_the_hours(client, content):
    html = client.get(f"/recommend/?approach=practice&budget=any&{ANSWERS}").content.decode()
    links = re.findall(r'class="plan-link" href="([^"]+)"', html)
    assert links and all("hours=5" in link for link in links)
    plan = client.get(links[0].replace("&amp;", "&")).content.decode()
    assert "At 5 h a week" in plan


def test_free_budget_gets_a_free_path_or_is_told(client, content):
    practice = client.get(f"/recommend/?approach=practice&budget=free&{ANSWERS}")
    assert practice.context["path"].slug == "practice-first"  # fast.ai only: free
    assert "budget-warning" not in practice.content.decode()

    theory = client.get(f"/recommend/?approach=theory&budget=free&{ANSWERS}")
    assert "budget-warning" in theory.content.decode()
    assert "Deep Learning Specialization" in theory.context["path"].budget_warning
    es = client.get(f"/recommend/?approach=theory&budget=free&{ANSWERS}", HTTP_ACCEPT_LANGUAGE="es")
    assert "Pediste cursos gratuitos" in es.content.decode()

    paying = client.get(f"/recommend/?approach=theory&budget=any&{ANSWERS}")
    assert "budget-warning" not in paying.content.decode()


def test_plan_page_leaves_the_header_search_box_empty(client, content):
    html = client.get("/plan/?path=theory-first&hours=5&start=2026-01-05").content.decode()
    box = re.search(r'<input id="site-search"[^>]*>', html).group(0)
    assert 'value=""' in box
    assert "plan-scroll-hint" in html  # the phone hint that the table scrolls


def test_ticking_a_unit_on_the_first_day_moves_the_rest_earlier(content):
    path = StudyPath.objects.get(slug="theory-first")
    ng1 = Unit.objects.get(slug="ng-1")
    plan = build_plan(path, 6, TODAY, done={ng1.pk}, today=TODAY)
    assert plan.reflowed_from == TODAY and plan.units[1].start == TODAY
    unrelated = Unit.objects.get(slug="fastai-1")  # not in this path: nothing moves
    plan = build_plan(path, 6, TODAY, done={unrelated.pk}, today=TODAY)
    assert plan.reflowed_from is None and plan.units[1].start == TODAY + timedelta(weeks=4)


def test_practice_both_ways_spreads_terms_and_spaces_misses(client, content):
    """Five answers, all wrong, cover at least four terms; no card is asked twice in a row."""
    asked = []
    for _ in range(5):
        html = client.get("/glossary/practice/?direction=both").content.decode()
        card = re.search(r'name="card" value="([^"]+)"', html).group(1)
        asked.append(card)
        client.post("/glossary/practice/", {"card": card, "answer": "nope", "direction": "both"})
    terms = [card.partition(":")[0] for card in asked]
    assert len(set(terms)) >= 4, asked
    assert all(a != b for a, b in zip(terms, terms[1:], strict=False))


def test_next_card_holds_back_the_reverse_of_the_last_answer(content):
    a, b = GlossaryTerm.objects.order_by("order")[:2]
    states = {(a.slug, "es-en"): CardState(1, TODAY + timedelta(days=1), 1)}
    assert next_card([a, b], states, ("es-en", "en-es"), TODAY) == (b, "es-en")
    # Only the recent term is left: it is asked rather than nothing.
    assert next_card([a], states, ("es-en", "en-es"), TODAY) == (a, "en-es")


def test_sign_up_says_the_account_is_ready(client, content):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newlearner",
            "email": "new@example.org",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="es",
    )
    html = response.content.decode()
    assert response.status_code == 200 and "newlearner" in html
    assert "tu cuenta está lista" in html
    assert timezone.localdate()  # the plan page it lands on renders


def test_admin_alternate_spellings_are_comma_separated(client, admin_user, content):
    client.force_login(admin_user)
    term = GlossaryTerm.objects.get(slug="convolutional-neural-network")
    url = f"/admin/guide/glossaryterm/{term.pk}/change/"
    html = client.get(url).content.decode()
    assert 'value="ConvNet"' in html and "Separate them with commas" in html
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        {
            "es_alternates": "red convolucional,  CNN en español ",
            "en_alternates": "ConvNet",
            "acronyms": "CNN",
            "topics": [t.pk for t in term.topics.all()],
            "units": [u.pk for u in term.units.all()],
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    term.refresh_from_db()
    assert term.es_alternates == ["red convolucional", "CNN en español"]
    assert term.en_alternates == ["ConvNet"] and term.acronyms == ["CNN"]


def test_topic_names_in_spanish_where_spanish_has_a_term(client, content):
    from guide.models import Topic

    same = [t.slug for t in Topic.objects.all() if t.name_en == t.name_es]
    assert len(same) <= 9, same  # names only: LSUV, GRU, LSTM, AWD-LSTM, ULMFiT, architectures
    html = client.get("/compare/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "aumento de datos" in html and "redes neuronales recurrentes (RNNs)" in html
