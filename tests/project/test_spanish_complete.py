"""Every string marked for translation anywhere in the code has its Spanish in django.po.

`makemessages` is run on a copy of the sources (never on the real catalogue, which it would
rewrite), and each msgid it finds must be in locale/es/LC_MESSAGES/django.po with a translation.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["config", "guide", "experiments", "workers", "templates", "manage.py"]


def msgids(po: Path) -> dict[str, str]:
    """msgid -> msgstr (first plural form) of a .po file, escapes left as written."""
    entries = {}
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        current, parts = None, {}
        for line in lines:
            match = re.match(
                r"^(msgid|msgid_plural|msgstr|msgstr\[0\]|msgstr\[\d+\]) (\".*\")$", line
            )
            if match:
                current = match.group(1)
                parts[current] = match.group(2)[1:-1]
            elif line.startswith('"') and current:
                parts[current] += line[1:-1]
        if parts.get("msgid"):
            entries[parts["msgid"]] = parts.get("msgstr", parts.get("msgstr[0]", ""))
    return entries


def test_every_marked_string_has_its_spanish(tmp_path):
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "locale").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "APP_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-location"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = msgids(tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po")
    assert len(found) > 300, "makemessages should find the interface's strings"
    catalogue = msgids(ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po")
    missing = sorted(msgid for msgid in found if not catalogue.get(msgid))
    assert not missing, f"{len(missing)} strings without Spanish, e.g. {missing[:10]}"


# The API's human-readable messages (errors, refusals) follow Accept-Language like the pages.
API_MESSAGES = [
    ("get", "/api/courses/", {"free": "maybe"}),
    ("get", "/api/units/", {"programme": "udacity"}),
    ("get", "/api/courses/nope/", {}),
    ("get", "/api/units/nope/", {}),
    ("get", "/api/units/", {"page": 99}),
    ("get", "/api/compare/paired/", {"a": "x", "b": "y"}),
    ("post", "/api/token/", {"username": "nobody", "password": "wrong"}),
    ("post", "/api/courses/", {}),
]


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.django_db
@pytest.mark.parametrize("method, url, params", API_MESSAGES)
def test_api_messages_are_in_spanish(client, content, method, url, params):
    from django.utils import translation

    try:
        answers = {
            lang: getattr(client, method)(url, params, HTTP_ACCEPT_LANGUAGE=lang)
            for lang in ("en", "es")
        }
        assert answers["en"].status_code >= 400, url
        english = _messages(answers["en"].json())
        spanish = _messages(answers["es"].json())
        assert english and len(english) == len(spanish), (url, english, spanish)
        same = [m for m in spanish if m in english and re.search(r"[a-z]{4}", m)]
        assert not same, f"{method} {url}: English in the Spanish answer: {same}"
    finally:
        translation.activate("en")


# Names that Spanish writes as English does (proper names, codes, loanwords).
SAME_IN_BOTH = {"slug", "URL", "MOOC", "SHA-256", "Keras", "fastai", "beta 1", "beta 2", "error"}
SAME_IN_BOTH |= {"total"}
ADMIN_APPS = ("guide", "experiments", "axes")


def _model_names(model) -> list:
    """Every name the admin shows for a model: its own, its fields', help texts and choices."""
    names = [model._meta.verbose_name, model._meta.verbose_name_plural]
    for field in model._meta.get_fields():
        if field.auto_created or not hasattr(field, "verbose_name"):
            continue
        names += [field.verbose_name, field.help_text]
        names += [label for _value, label in field.flatchoices or []]
    return [name for name in names if name]


def _project_models():
    from django.apps import apps

    # axes ships no Spanish: its admin's strings are in config/third_party_strings.py.
    return [m for app in ADMIN_APPS for m in apps.get_app_config(app).get_models()]


def test_model_field_and_choice_names_have_spanish():
    from django.utils import translation

    english_only = []
    for model in _project_models():
        for name in _model_names(model):
            with translation.override("en"):
                english = str(name)
            with translation.override("es"):
                spanish = str(name)
            if english == spanish and english not in SAME_IN_BOTH:
                english_only.append(f"{model.__name__}: {english}")
    assert not english_only, f"{len(english_only)} names without Spanish: {english_only[:10]}"


@pytest.mark.django_db
def test_admin_pages_are_in_spanish(client, admin_user, content):
    from django.contrib import admin
    from django.utils import translation
    from django.utils.text import capfirst

    client.force_login(admin_user)
    client.cookies["django_language"] = "es"
    try:
        index = client.get("/admin/").content.decode()
        names = ("Términos del glosario", "Trabajos de entrenamiento", "Intentos de acceso")
        for name in ("Experimentos", "Guía de MOOC", *names):
            assert name in index, name
        for model in admin.site._registry:
            if model._meta.app_label not in ADMIN_APPS:
                continue
            with translation.override("en"):
                english = {capfirst(str(n)) for n in _model_names(model)}
            english -= {capfirst(n) for n in SAME_IN_BOTH}
            opts = model._meta
            changelist = client.get(f"/admin/{opts.app_label}/{opts.model_name}/")
            assert changelist.status_code == 200, opts.model_name
            headers = re.findall(
                r'<th scope="col"[^>]*>.*?<a [^>]*>([^<]+)</a>', changelist.text, re.S
            )
            headers += re.findall(r"<h3>\s*Por ([^<]+)\s*</h3>", changelist.text)
            add = client.get(f"/admin/{opts.app_label}/{opts.model_name}/add/")
            labels = re.findall(r"<label[^>]*>([^<]+?):?</label>", add.content.decode())
            shown = {h.strip() for h in headers} | {label.strip() for label in labels}
            assert not shown & english, (
                f"{opts.model_name}: English in the admin: {shown & english}"
            )
        # A unit is named in the reader's language wherever the admin shows one.
        references = client.get("/admin/guide/crossreference/").content.decode()
        assert "Lección 1 de fast.ai — Clasificación de imágenes" in references
    finally:
        translation.activate("en")
