"""Issue 19 in a real browser (Debian Chromium, 390 and 1280 px, English and Spanish): what a
new learner, researcher and admin meet."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.browser import test_responsive_a11y as a11y
from tests.browser.test_responsive_a11y import AXE_JS_RUN, DESKTOP, PHONE
from tests.conftest import make_job

pytestmark = pytest.mark.browser
axe_source = a11y.axe_source  # the session fixture: axe-core installed once from npm


def context_for(browser, live_server, language, width, session=None):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": 844 if width == PHONE else 900},
    )
    domain = live_server.url.split("//")[1].split(":")[0]
    cookies = {"django_language": language}
    if session:
        cookies[settings.SESSION_COOKIE_NAME] = session
    context.add_cookies(
        [{"name": k, "value": v, "domain": domain, "path": "/"} for k, v in cookies.items()]
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def axe_problems(page, axe_js, where):
    page.evaluate(axe_js)
    return [f"{where}: axe {v}" for v in page.evaluate(AXE_JS_RUN)]


def session_of(user):
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def admin_session(admin_user):
    return session_of(admin_user)


def test_api_docs_admin_and_error_pages_pass_axe(
    browser, live_server, axe_source, content, admin_session
):
    from guide.models import GlossaryTerm

    term = GlossaryTerm.objects.order_by("order").first()
    pages = [
        ("api docs", "/api/docs/", 200),
        ("admin", "/admin/", 200),
        ("admin list", "/admin/guide/glossaryterm/", 200),
        ("admin change", f"/admin/guide/glossaryterm/{term.pk}/change/", 200),
        ("not found", "/no-such-page/", 404),
    ]
    problems = []
    for language in ("en", "es"):
        for width in (PHONE, DESKTOP):
            context, page = context_for(browser, live_server, language, width, admin_session)
            for name, path, status in pages:
                where = f"[{language} {width}px] {name}"
                response = page.goto(path)
                assert response.status == status, where
                if name == "api docs":
                    expect(page.locator(".opblock").first).to_be_visible()
                    page.locator(".opblock-summary").first.click()  # an operation opened
                    expect(page.locator(".opblock-body").first).to_be_visible()
                assert page.locator("html").get_attribute("lang") in (language, f"{language}-us")
                problems += axe_problems(page, axe_source, where)
            context.close()
    assert not problems, "\n".join(problems)


def test_a_learner_on_a_phone_keeps_their_answers(browser, live_server, content):
    context, page = context_for(browser, live_server, "es", PHONE)
    page.goto(
        "/recommend/?approach=practice&budget=free&certificate=no&hours=5&library=fastai"
        "&programming_year=yes"
    )
    page.locator("#results .study-path a.plan-link").click()
    expect(page).to_have_url("/plan/?path=practice-first&hours=5")
    expect(page.locator(".plan-summary")).to_contain_text("5 h")
    expect(page.locator("#site-search")).to_have_value("")
    # The table scrolls sideways: a visible hint, and the unit column stays while it scrolls.
    expect(page.locator("#plan-scroll-hint")).to_be_visible()
    region = page.locator(".table-scroll").first
    unit = page.locator("tr.plan-unit th").first
    before = unit.bounding_box()["x"]
    region.evaluate("(el) => { el.scrollLeft = el.scrollWidth; }")
    assert region.evaluate("(el) => el.scrollLeft") > 0
    assert abs(unit.bounding_box()["x"] - before) < 2
    # Ticking the first lesson on the first day moves the next one to today.
    second_start = page.locator("tr.plan-unit").nth(1).locator("td").first.inner_text()
    page.locator("tr.plan-unit").first.locator("button.tick-button").click()
    expect(page.locator(".reflowed")).to_be_visible()
    assert page.locator("tr.plan-unit").nth(1).locator("td").first.inner_text() != second_start
    # Signing up says so.
    page.goto("/accounts/signup/")
    page.fill('input[name="username"]', "lucia")
    page.fill('input[name="email"]', "lucia@example.org")
    page.fill('input[name="password1"]', "an-unguessable-phrase-7")
    page.fill('input[name="password2"]', "an-unguessable-phrase-7")
    page.click('form.stacked button[type="submit"]')
    expect(page.locator(".messages")).to_contain_text("tu cuenta está lista")
    context.close()

    context, page = context_for(browser, live_server, "en", DESKTOP)
    page.goto("/plan/?path=practice-first&hours=5")
    expect(page.locator("#plan-scroll-hint")).to_be_hidden()  # no need on a wide screen
    context.close()


def test_waits_say_what_is_happening(browser, live_server, tiny_dataset, researcher):
    from django.utils import timezone

    from experiments.models import Study, StudyJob, TrainingJob

    running = make_job(tiny_dataset, status="running", evaluation={}, phase_seconds={})
    queued = make_job(tiny_dataset, status="queued", evaluation={}, phase_seconds={})
    TrainingJob.objects.filter(pk=running.pk).update(started_at=timezone.now())
    study = Study.objects.create(
        name="two",
        dataset=tiny_dataset,
        dataset_name=tiny_dataset.name,
        grid={"libraries": ["fastai"], "architectures": ["resnet50"]},
    )
    for job in (running, queued):
        cell = {"library": job.library, "architecture": job.architecture}
        StudyJob.objects.create(study=study, job=job, cell="fastai resnet50", cell_settings=cell)

    for language, waiting, loading in (
        ("en", "Waiting for the training slot", "Loading the libraries"),
        ("es", "Esperando un hueco para entrenar", "Cargando las bibliotecas"),
    ):
        context, page = context_for(browser, live_server, language, PHONE)
        page.goto(f"/experiments/runs/{queued.pk}/")
        expect(page.locator("#run-stage")).to_have_text(waiting)
        expect(page.locator("#run-queue")).to_contain_text(f"#{running.pk}")
        page.goto(f"/experiments/runs/{running.pk}/")
        expect(page.locator("#run-stage")).to_have_text(loading)
        context.close()

    # The run page and the study page follow the job without a reload.
    context, page = context_for(browser, live_server, "en", DESKTOP)
    page.goto(f"/experiments/runs/{running.pk}/")
    page.evaluate("window.__sameDocument = true")
    TrainingJob.objects.filter(pk=running.pk).update(device="cpu", progress_phase=1)
    expect(page.locator("#run-stage")).to_have_text("Training phase 1 of 2 (body frozen)")
    assert page.evaluate("window.__sameDocument") is True

    page.goto(f"/experiments/studies/{study.pk}/")
    queued_count = page.locator('#study-live [data-status="queued"] .count')
    expect(queued_count).to_have_text("1")
    TrainingJob.objects.filter(pk=queued.pk).update(status="running")
    expect(page.locator('#study-live [data-status="queued"]')).to_be_hidden(timeout=15_000)
    expect(page.locator('#study-live [data-status="running"] .count')).to_have_text("2")
    context.close()


def test_static_files_favicon_and_small_plotly(browser, live_server, tiny_dataset):
    context, page = context_for(browser, live_server, "en", DESKTOP)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(tiny_dataset.get_absolute_url())
    page.wait_for_function("() => document.querySelector('#chart-classes').dataset.rendered")
    assert not missing, missing  # a favicon, and no other missing file
    scripts = page.evaluate("() => [...document.scripts].map((s) => s.src)")
    assert any("plotly-cartesian.min" in src for src in scripts)
    context.close()


def test_chart_toolbar_speaks_spanish(browser, live_server, tiny_dataset):
    """Plotly's toolbar titles come from its locale: every button of every chart in Spanish."""
    job = make_job(tiny_dataset)
    context, page = context_for(browser, live_server, "es", DESKTOP)
    page.goto(f"/experiments/runs/{job.pk}/")
    page.wait_for_function(a11y_drawn())
    titles = set(
        page.eval_on_selector_all(".modebar-btn", "(els) => els.map((e) => e.dataset.title)")
    )
    assert "Descargar el gráfico como PNG" in titles, titles
    english = {
        "Download plot as a png", "Download plot as a PNG", "Pan", "Box Select", "Lasso Select",
        "Zoom in", "Zoom out",
        "Autoscale", "Reset axes", "Toggle Spike Lines", "Show closest data on hover",
        "Compare data on hover", "Reset view", "Produced with Plotly.js",
    }  # fmt: skip
    assert not titles & english, titles & english
    context.close()


def a11y_drawn() -> str:
    return "() => [...document.querySelectorAll('.chart')].every((c) => c.dataset.rendered)"


def test_titles_in_the_learners_language_with_the_original_beside(browser, live_server, content):
    for width in (PHONE, DESKTOP):
        context, page = context_for(browser, live_server, "es", width)
        page.goto("/programmes/fastai/fastai-1/")
        heading = page.locator("h1")
        expect(heading).to_contain_text("Clasificación de imágenes")
        original = heading.locator('.original-title[lang="en"]')
        expect(original).to_have_text("(Image classification)")
        assert page.title().startswith("Clasificación de imágenes")
        # The original is visibly secondary: smaller than the Spanish title beside it.
        sizes = original.evaluate(
            "(el) => [parseFloat(getComputedStyle(el).fontSize),"
            " parseFloat(getComputedStyle(el.parentElement).fontSize)]"
        )
        assert sizes[0] < sizes[1]
        assert page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"{width}px: the heading pushes the page sideways"
        page.goto("/plan/?path=practice-first&hours=5")
        first = page.locator("tr.plan-unit th").first
        expect(first.locator('.original-title[lang="en"]')).to_be_visible()
        page.goto("/programmes/ng/")
        expect(
            page.get_by_role("link", name="Redes neuronales convolucionales").first
        ).to_be_visible()
        context.close()

    context, page = context_for(browser, live_server, "en", DESKTOP)
    page.goto("/programmes/fastai/fastai-1/")
    expect(page.locator("h1")).to_contain_text("Image classification")
    expect(page.locator(".original-title")).to_have_count(0)
    context.close()


def test_the_admin_speaks_spanish(browser, live_server, content, admin_session):
    context, page = context_for(browser, live_server, "es", DESKTOP, admin_session)
    page.goto("/admin/")
    expect(page.get_by_role("link", name="Términos del glosario").first).to_be_visible()
    expect(page.get_by_role("link", name="Trabajos de entrenamiento").first).to_be_visible()
    page.goto("/admin/guide/unit/")
    expect(page.locator("#result_list thead")).to_contain_text("Título en español")
    expect(page.locator("#changelist-filter")).to_contain_text("Por programa")
    page.goto("/admin/guide/unit/add/")
    expect(page.locator("label[for=id_title_es]")).to_have_text("Título en español:")
    expect(page.locator("#id_title_es_helptext")).to_contain_text("se muestra el original")
    page.goto("/admin/experiments/trainingjob/add/")
    expect(page.locator("label[for=id_lr1]")).to_have_text("Tasa de aprendizaje de la fase 1:")
    expect(page.locator("#id_status")).to_contain_text("en cola")
    page.goto("/admin/guide/crossreference/add/")
    expect(page.locator("#id_relation")).to_contain_text("va más allá")
    context.close()
