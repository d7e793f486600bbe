"""Every page type on a phone (390 px) and a desktop (1280 px), in English and in Spanish.

For each page: it loads (200), nothing scrolls sideways at 390 px, axe-core finds no serious or
critical WCAG 2.1 A/AA violation, and the Spanish page shows none of the interface's own English
strings (the msgids of locale/es/LC_MESSAGES/django.po).

To walk a new page, add it to PAGES (or RESEARCHER_PAGES, walked logged in as a researcher): a
name and a path, with {placeholders} from `walk_data`.
"""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import make_job

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE_VERSION = "4.10.3"
AXE_DIR = ROOT / "var" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
PO_FILE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"

PHONE, DESKTOP = 390, 1280
LANGUAGES = ("en", "es")

# (page type, path). Placeholders come from the `walk_data` fixture.
PAGES = [
    ("home", "/"),
    ("catalogue", "/courses/"),
    ("course", "/courses/{course}/"),
    ("programme", "/programmes/{programme}/"),
    ("unit", "{unit_url}"),
    ("compare", "/compare/"),
    ("glossary", "/glossary/"),
    ("recommend", "/recommend/"),
    ("recommend results", "/recommend/?approach=practice&budget=free&certificate=no&hours=8"
     "&library=fastai&programming_year=yes"),
    ("search", "/search/?q=learning"),
    ("keras vs fastai", "/keras-vs-fastai/"),
    ("experiments list", "/experiments/"),
    ("run", "/experiments/runs/{run}/"),
    ("failed run", "/experiments/runs/{failed_run}/"),
    ("compare runs", "/experiments/compare/?ids={run},{other_run}"),
    ("table 4.2", "/experiments/table-4-2/"),
    ("datasets", "/experiments/datasets/"),
    ("dataset", "/experiments/datasets/{dataset}/"),
    ("workers", "/experiments/workers/"),
    ("log in", "/accounts/login/"),
    ("sign up", "/accounts/signup/"),
    ("plan", "/plan/?path=fastai-ng-fastai&hours=12&start=2026-01-05"),
    ("glossary practice", "/glossary/practice/"),
    ("studies", "/experiments/studies/"),
    ("study", "/experiments/studies/{study}/"),
]  # fmt: skip

# Pages only a researcher sees: walked logged in as one.
RESEARCHER_PAGES = [
    ("launch", "/experiments/runs/new/"),
    ("reproduce", "/experiments/reproduce/"),
    ("import a dataset", "/experiments/datasets/import/"),
    ("new study", "/experiments/studies/new/"),
    ("run, researcher", "/experiments/runs/{run}/"),
]  # fmt: skip

# Interface strings whose Spanish is the same word (names, abbreviations): never a finding.
SAME_IN_BOTH = {
    "F1", "No", "Adam β1", "Adam β2", "Keras / TensorFlow", "PyTorch", "fastai", "Keras vs fastai",
    "API", "ETA", "GPU", "slug", "URL", "MOOC", "SHA-256", "Keras", "error", "total", "beta 1",
    "beta 2",
}  # fmt: skip

# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from the npm registry, installed once under var/axe. Fails (never skips)."""
    if not AXE_JS.is_file():
        command = [
            "npm", "install", "--prefix", str(AXE_DIR), f"axe-core@{AXE_VERSION}",
            "--no-audit", "--no-fund", "--no-save",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"could not run npm to install axe-core: {exc}")
        if result.returncode != 0 or not AXE_JS.is_file():
            pytest.fail(f"npm could not install axe-core@{AXE_VERSION}:\n{result.stderr[-3000:]}")
    return AXE_JS.read_text()


def po_entries(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a .po file; plural msgids paired with their first msgstr."""
    entries, current, key = [], {}, None
    for line in path.read_text().splitlines() + [""]:
        match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[0\])?|msgstr\[\d+\]) "(.*)"$', line)
        if match:
            key = match.group(1)
            current[key] = current.get(key, "") + match.group(2)
        elif line.startswith('"') and key:
            current[key] += line[1:-1]
        elif not line.strip() and current:
            msgstr = current.get("msgstr", current.get("msgstr[0]", ""))
            for name in ("msgid", "msgid_plural"):
                if current.get(name):
                    entries.append((current[name], msgstr))
            current, key = {}, None
    unescape = lambda text: text.replace('\\"', '"').replace("\\n", "\n")  # noqa: E731
    return [(unescape(msgid), unescape(msgstr)) for msgid, msgstr in entries]


def english_fragments() -> list[str]:
    """The interface's own English strings, split at placeholders, as literal fragments."""
    fragments = set()
    for msgid, msgstr in po_entries(PO_FILE):
        if msgid in SAME_IN_BOTH:
            continue
        for part in re.split(r"%\(\w+\)[sdr]|%[sd]|\{\{[^}]*\}\}|<[^>]*>|[\n:;(),“”\"…]", msgid):
            part = part.strip(" .·—-–/?!'")
            # Shorter than a real word ("of", "on") would match anywhere; a part that a real
            # translation keeps (a name such as ResNet) is not English left over.
            kept = msgstr != msgid and part in msgstr
            if len(re.findall(r"[A-Za-z]", part)) >= 4 and not kept:
                fragments.add(part)
    return sorted(fragments, key=len, reverse=True)


class EnglishFinder:
    """Finds interface English in a piece of page text.

    Phrases of three words or more count anywhere. Shorter strings count only when they are the
    whole text of their element (a label, a status, an option): the guide's Spanish prose
    rightly uses English terms such as "loss" or "learning rate", and "actual" is Spanish too.
    """

    def __init__(self, fragments: list[str]):
        phrases = [f for f in fragments if len(f.split()) >= 3]
        self.words = {f for f in fragments if len(f.split()) < 3}
        self.phrases = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, phrases)) + r")(?![\w])")

    def find(self, text: str) -> set[str]:
        found = set(self.phrases.findall(text))
        bare = re.sub(r"[\s\d:·#/().,;%—–×±-]+", " ", text).strip()
        if bare in self.words:
            found.add(bare)
        return found


@pytest.fixture(scope="session")
def english() -> EnglishFinder:
    fragments = english_fragments()
    assert len(fragments) > 200, "the .po file should list the interface's strings"
    return EnglishFinder(fragments)


@pytest.fixture
def walk_data(content, tiny_dataset, researcher):
    """A finished, a failed and a second run, a worker, and the guide's content."""
    from experiments.models import Study, StudyJob, WorkerHeartbeat
    from guide.models import Mooc, Unit

    evaluation = {
        "accuracy": 0.75,
        "classes": ["0", "1", "2"],
        "per_class": [
            {"class": c, "precision": 0.7, "recall": 0.8, "f1": 0.75, "support": 4}
            for c in ("0", "1", "2")
        ],
        "confusion_matrix": [[3, 1, 0], [0, 4, 0], [1, 0, 3]],
        "most_confused": [{"actual": "2", "predicted": "0", "count": 1}],
        "top_losses": [],
        "n_test": 12,
    }
    lr_finder = {"lrs": [1e-5, 1e-4, 1e-3, 1e-2], "losses": [1.2, 1.0, 0.8, 2.0],
                 "suggestion": 1e-3}  # fmt: skip
    run = make_job(tiny_dataset, evaluation=evaluation, lr_finder=lr_finder)
    other = make_job(tiny_dataset, library="keras", architecture="vgg16", evaluation=evaluation)
    failed = make_job(
        tiny_dataset,
        status="failed",
        error="Out of memory. Try a smaller batch size or image size.",
    )
    WorkerHeartbeat.objects.create(
        hostname="gpu-1@lab", queues=["gpu"], current_job=run, last_seen=timezone.now()
    )
    study = Study.objects.create(
        name="ResNet50, two libraries", dataset=tiny_dataset, dataset_name=tiny_dataset.name,
        grid={"libraries": ["fastai", "keras"], "architectures": ["resnet50"]},
    )  # fmt: skip
    for job in (run, other):
        cell = {"library": job.library, "architecture": job.architecture}
        StudyJob.objects.create(
            study=study, job=job, cell=f"{job.library} {job.architecture}", cell_settings=cell
        )
    client = Client()
    client.force_login(researcher)
    return {
        "run": run.pk,
        "other_run": other.pk,
        "failed_run": failed.pk,
        "dataset": tiny_dataset.name,
        "course": Mooc.objects.order_by("slug").first().slug,
        "programme": "fastai",
        "unit_url": Unit.objects.order_by("pk").first().get_absolute_url(),
        "study": study.pk,
        "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }


# ------------------------------------------------------------------------------ page checks

# The first elements that reach past the right edge of the viewport, for the failure message.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth;
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.table-scroll') || !el.checkVisibility()) continue;
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 1) {
      culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '') +
        ' (' + Math.round(r.right) + 'px)');
      if (culprits.length >= 5) break;
    }
  }
  return {width, wide, culprits};
}"""

# Text a Spanish reader meets: text nodes and the names of controls, in Spanish parts of the page
# (content marked lang="en", code and translate="no" parts are not interface text).
TEXT_JS = """() => {
  const spanish = (el) => {
    const part = el.closest('[lang]');
    return (!part || part.lang.startsWith('es')) && !el.closest('code, pre, [translate="no"]');
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest('script, style, template') || !spanish(el)) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  const named = '[aria-label], [title], [placeholder], [alt], input[type=submit]';
  for (const el of document.querySelectorAll(named)) {
    if (!spanish(el)) continue;
    for (const name of ['aria-label', 'title', 'placeholder', 'alt', 'value']) {
      if (!el.hasAttribute(name) || (name === 'value' && el.type !== 'submit')) continue;
      texts.push(el.getAttribute(name));
    }
  }
  texts.push(document.title);
  return texts;
}"""

AXE_JS_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations'],
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ' (' + v.impact + '): ' +
      v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
}"""


def open_page(page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    page.wait_for_load_state("load")
    # Charts are drawn by Plotly after load; wait until every chart box has been rendered.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart')].every((c) => c.dataset.rendered)"
    )


def walk(
    browser, live_server, axe_source, language, data, pages, english=None, session=None
) -> list[str]:
    """Open the pages at both widths in one language; return the problems found."""
    problems = []
    # The site's Content-Security-Policy stays on: a chart that needs an inline script fails.
    context = browser.new_context(base_url=live_server.url)
    domain = live_server.url.split("//")[1].split(":")[0]
    cookies = {"django_language": language}
    if session:
        cookies[settings.SESSION_COOKIE_NAME] = session
    context.add_cookies(
        [{"name": k, "value": v, "domain": domain, "path": "/"} for k, v in cookies.items()]
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    for width in (PHONE, DESKTOP):
        page.set_viewport_size({"width": width, "height": 844 if width == PHONE else 900})
        for name, template in pages:
            path = template.format(**data)
            where = f"[{language} {width}px] {name} {path}"
            open_page(page, path)
            assert page.locator("html").get_attribute("lang") == language, where
            if width == PHONE:
                overflow = page.evaluate(OVERFLOW_JS)
                if overflow["wide"] > overflow["width"]:
                    problems.append(f"{where}: scrolls sideways ({overflow['wide']}px): "
                                    f"{', '.join(overflow['culprits'])}")  # fmt: skip
            page.evaluate(axe_source)  # through the debugger protocol, not a <script>
            for violation in page.evaluate(AXE_JS_RUN):
                problems.append(f"{where}: axe {violation}")
            if english is not None and width == DESKTOP:
                found = {}
                for text in page.evaluate(TEXT_JS):
                    for fragment in english.find(text):
                        found.setdefault(fragment, text[:80])
                if found:
                    problems.append(f"{where}: English left: {found}")
    context.close()
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_fits_a_phone_and_passes_axe(
    browser, live_server, axe_source, english, walk_data, language
):
    finder = english if language == "es" else None
    problems = walk(browser, live_server, axe_source, language, walk_data, PAGES, finder)
    problems += walk(
        browser, live_server, axe_source, language, walk_data, RESEARCHER_PAGES, finder,
        session=walk_data["session"],
    )  # fmt: skip
    assert not problems, "\n".join(problems)


def test_the_english_word_check_finds_english(english):
    """The Spanish check is not vacuous: it finds interface English, and not Spanish."""
    assert english.find("succeeded") == {"succeeded"}
    assert english.find("Workers") == {"Workers"}
    assert english.find("Elige y pulsa Compare selected runs") == {"Compare selected runs"}
    assert not english.find("Estado: completado · Comparar las ejecuciones elegidas")
    assert not english.find("La tasa de aprendizaje (learning rate) y la pérdida (loss)")


# ------------------------------------------------------------------------ header menu on phones


def test_phone_menu_works_with_keyboard_and_without_javascript(browser, live_server, content):
    for javascript in (True, False):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": PHONE, "height": 844},
            java_script_enabled=javascript,
        )
        page = context.new_page()
        page.goto("/")
        header = page.locator(".site-header").bounding_box()
        assert header["height"] < 844 / 8, "the closed header should take one short row"
        courses = page.locator(".nav a", has_text="Courses")
        expect(courses).to_be_hidden()
        # Keyboard only: Tab to the menu button (after the skip link and the brand), Enter.
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.locator(".menu-button")).to_be_focused()
        page.keyboard.press("Enter")
        expect(courses).to_be_visible()
        expect(page.locator("#site-search")).to_be_visible()
        expect(page.locator('[data-lang="es"]')).to_be_visible()
        if javascript:  # Escape closes it again and leaves focus on its button.
            page.keyboard.press("Tab")
            page.keyboard.press("Escape")
            expect(courses).to_be_hidden()
            expect(page.locator(".menu-button")).to_be_focused()
        context.close()


def test_desktop_shows_the_whole_header_without_a_menu_button(browser, live_server, content):
    # Without JavaScript too: CSS alone reveals the closed <details> on wide screens.
    for javascript in (True, False):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": DESKTOP, "height": 900},
            java_script_enabled=javascript,
        )
        page = context.new_page()
        page.goto("/")
        expect(page.locator(".menu-button")).to_be_hidden()
        expect(page.locator(".nav a", has_text="Courses")).to_be_visible()
        expect(page.locator("#site-search")).to_be_visible()
        expect(page.locator('[data-lang="es"]')).to_be_visible()
        context.close()


# ----------------------------------------------------------------- charts' text alternative


def test_spanish_run_page_charts_have_a_data_table_in_spanish(browser, live_server, walk_data):
    context = browser.new_context(base_url=live_server.url, locale="es-ES")
    page = context.new_page()
    page.goto(f"/experiments/runs/{walk_data['run']}/")
    expect(page.locator("#run-status")).to_have_text("completado")
    loss = page.locator("figure.chart-figure", has=page.locator("#chart-loss"))
    expect(loss).to_have_attribute("aria-label", re.compile(r"^Pérdida"))
    # The data behind the loss chart, under it: one row per epoch, numbers with a decimal comma.
    loss.locator("details.chart-data summary").click()
    table = loss.locator("details.chart-data table")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("thead th").nth(1)).to_have_text("pérdida de entrenamiento")
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("0,5")
    # The confusion matrix reads as a matrix: actual classes down, predicted across.
    confusion = page.locator("figure.chart-figure", has=page.locator("#chart-confusion"))
    expect(confusion.locator("tbody tr")).to_have_count(3)
    expect(confusion.locator("tbody tr").first.locator("td")).to_have_text(["3", "1", "0"])
    # Plotly's toolbar speaks Spanish too.
    expect(page.locator('#chart-loss [data-title="Restablecer los ejes"]')).to_have_count(1)
    # At 390 px the chart is as wide as the screen allows, not 500 px.
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.wait_for_function(
        "() => document.querySelector('#chart-loss .main-svg').getBoundingClientRect().width < 390"
    )
    context.close()


# --------------------------------------------------------------- the run page from the keyboard

FOCUSED_JS = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return {text: el.textContent.trim(), form: el.form ? el.form.id : null,
          outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
}"""


def test_run_page_cancel_works_from_the_keyboard_with_a_visible_focus(
    browser, live_server, walk_data, tiny_dataset
):
    job = make_job(tiny_dataset, status="queued")
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": PHONE, "height": 844}
    )
    domain = live_server.url.split("//")[1].split(":")[0]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": walk_data["session"], "domain": domain,
          "path": "/"}]
    )  # fmt: skip
    page = context.new_page()
    page.goto(f"/experiments/runs/{job.pk}/")
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused["form"] == "cancel-form":
            break
    else:
        raise AssertionError("Tab never reached the Cancel button")
    assert focused["outline"] != "none" and focused["width"] >= 2, focused
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_have_text("cancelled")
    job.refresh_from_db()
    assert job.status == "cancelled"
    context.close()
