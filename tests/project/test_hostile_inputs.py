"""Every URL pattern, walked with hostile values: no input may produce a 5xx.

Generic over get_resolver(), so routes added later are covered too. Hostile values go into
path parameters, the query string, form and JSON bodies and the Idempotency-Key header, as an
anonymous visitor and as a researcher (Django's admin as a superuser). The classes of input:
NUL bytes, Unicode digits, numbers out of range, lone surrogates, `next` values that are not
URLs of this site, JSON nested 100,000 deep, oversized bodies, and simultaneous sign-ups with
one name.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
import threading
import unicodedata
from urllib.parse import quote

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from tests.conftest import make_job


def unicode_numbers() -> list[str]:
    """Numbers written with every non-ASCII set of decimal digits Unicode has (Arabic-Indic,
    Devanagari, fullwidth, mathematical bold, ...): int(), float() and Decimal() read them all."""
    zeros = [
        chr(code)
        for code in range(0x80, sys.maxunicode + 1)
        if unicodedata.decimal(chr(code), None) == 0
    ]
    found = []
    for zero in zeros:
        digit = [chr(ord(zero) + n) for n in range(10)]
        found += [digit[1] + digit[2], digit[3] + "." + digit[5], "1" + digit[0]]
    return found


UNICODE_NUMBERS = unicode_numbers()

HOSTILE_PATH = [
    "abc", "0", "-1", "\u00b2", "9" * 400, str(2**63), "%00", "a%00b", "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3E", "%F0%9F%92%A9", "1.5", "%C0%AE", "%D9%A1%D9%A2", "%EF%BC%91", "%ED%B3%BF",
]  # fmt: skip
# `next` values that are not URLs of this site: view names, other hosts, unsayable in a header.
NOT_URL_NEXT = [
    "plan", "guide:plan", "admin:index", "//evil.example", "http://evil.example/",
    "javascript:alert(1)", "/a\r\nLocation: x", "\udcff", "\x7f", "?x=1",
]  # fmt: skip
# JSON bodies: nested 100,000 deep (lists, objects), lone surrogates as values and keys,
# malformed, and over the API's size limit (lowered for the walk).
JSON_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"library": "\\udcff", "\\ud800": ["\\udfff"], "name": "\\udcff", "username": "\\ud800"}',
    b'{"library": "keras", ',
    b'{"name": "' + b"x" * 5000 + b'"}',
]
BAD_KEYS = ["short", "x" * 65, "\u0661" * 10, "has space!", "\udcff" * 9]
HOSTILE_VALUES = [
    "\x00", "a\x00b", "\u00b2", "{unicode number}", "9" * 400, str(2**63), "-1", "1e309", "nan",
    "' OR 1=1 --", "<script>alert(1)</script>", "x" * 3000, "\udcff",
]  # fmt: skip
QUERY_KEYS = [
    "page", "runs", "ids", "clone", "library", "path", "dataset", "q", "sort", "status",
    "format", "next", "only", "architecture", "o", "p", "e", "id", "name", "limit", "offset",
    "level", "topic", "mooc", "language", "price", "lang", "search", "ordering",
]  # fmt: skip
FORM_KEYS = [
    "library", "architecture", "dataset", "image_size", "batch_size", "augmentation",
    "weight_decay", "beta1", "beta2", "one_cycle", "discriminative_lr", "lr1", "lr2_low",
    "lr2_high", "epochs1", "epochs2", "pretrained", "seed", "fair_mode", "run_lr_finder",
    "max_batches", "keras_backend", "idempotency_key", "path", "name", "preset", "min_images",
    "epoch_scale", "username", "password", "email", "language", "next", "load_preset", "launch",
]  # fmt: skip
NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _template(pattern) -> str | None:
    """The pattern as text with {} where a parameter goes; None if it cannot be written."""
    if isinstance(pattern, RoutePattern):
        return CONVERTER.sub("{}", str(pattern))
    if isinstance(pattern, RegexPattern):
        text = NAMED_GROUP.sub("{}", pattern.regex.pattern)
        text = text.lstrip("^").replace("\\Z", "").rstrip("$").replace("/?", "/")
        text = text.replace("\\.", ".").replace("\\-", "-")
        if re.search(r"[()\[\]*+?|\\]", text):
            return None
        return text
    return None


def url_templates(patterns=None, prefix: str = "") -> list[str]:
    patterns = get_resolver().url_patterns if patterns is None else patterns
    found = []
    for entry in patterns:
        part = _template(entry.pattern)
        if part is None:
            continue
        if isinstance(entry, URLResolver):
            found += url_templates(entry.url_patterns, prefix + part)
        elif isinstance(entry, URLPattern):
            found.append("/" + prefix + part)
    return sorted(set(found))


def _fill(template: str, value: str) -> str:
    return template.replace("{}", value)


def _safe(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _sign_up_at_once(count: int, name: str) -> list[int]:
    """`count` clients post one sign-up with the same name at the same moment."""
    from django.db import connection

    barrier, codes = threading.Barrier(count), []

    def sign_up(index: int) -> None:
        client = Client(raise_request_exception=False)
        barrier.wait()
        answer = client.post(
            "/accounts/signup/",
            {"username": name, "email": f"{index}@example.com", "next": NOT_URL_NEXT[index],
             "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42"},
        )  # fmt: skip
        codes.append(answer.status_code)
        connection.close()

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


@pytest.mark.slow
def test_every_url_answers_hostile_input_without_a_5xx(
    transactional_db, content, tiny_dataset, django_user_model, settings
):
    from experiments.roles import ensure_researchers_group

    settings.API_JSON_MAX_BYTES = 4096  # the oversized JSON body class stays small
    job = make_job(tiny_dataset, error="Boom\n\nTraceback: secret detail")
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    rita = django_user_model.objects.create_user("rita", "rita@example.com", "pw")
    rita.groups.add(ensure_researchers_group())
    templates = url_templates()
    assert len(templates) > 40 and any("jobs" in t for t in templates)
    anonymous = Client(raise_request_exception=False)
    signed_in = Client(raise_request_exception=False)
    tried, failures = 0, []

    def hit(client: Client, method: str, url: str, data=None, **extra) -> None:
        nonlocal tried
        tried += 1
        if method == "get":
            response = client.get(url, **extra)
        elif method == "json":
            response = client.post(url, data, content_type="application/json", **extra)
        else:  # encoded here: the test client cannot encode a lone surrogate, a browser can
            body = "&".join(f"{_safe(k)}={_safe(v)}" for k, v in (data or {}).items())
            response = client.post(
                url, body, content_type="application/x-www-form-urlencoded", **extra
            )
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url[:160]} -> {response.status_code}")

    for turn, template in enumerate(templates):
        # Each pattern gets numbers in another script's digits, in every value slot.
        number = UNICODE_NUMBERS[turn * 7 % len(UNICODE_NUMBERS)]
        # Logging out and the admin's delete confirmations (any POST confirms) are not input
        # handling; walking them would only remove the walker.
        if "logout" in template or "delete" in template:
            continue
        # Django's own admin gets a lighter walk (as a superuser) than this project's routes.
        light = template.startswith("/admin/")
        signed_in.force_login(admin if light else rita)
        path_values = HOSTILE_PATH[:5] if light else [*HOSTILE_PATH, _safe(number)]
        values = [number if v == "{unicode number}" else v for v in HOSTILE_VALUES]
        values = values[:3] if light else values
        samples = [str(job.pk)] if light else [str(job.pk), "tiny"]
        if "{}" not in template:
            path_values, samples = [], [""]
        for value in path_values:
            url = _fill(template, value)
            hit(anonymous, "get", url)
            hit(signed_in, "get", url)
        for sample in samples:
            base = _fill(template, sample)
            for index, value in enumerate(values):
                # Every key gets the value; `next` gets a non-URL target in turn.
                query = "&".join(f"{key}={_safe(value)}" for key in QUERY_KEYS)
                query += f"&next={_safe(NOT_URL_NEXT[index % len(NOT_URL_NEXT)])}"
                hit(anonymous, "get", f"{base}?{query}")
                hit(signed_in, "get", f"{base}?{query}")
            for index, value in enumerate(values[: 2 if light else 9]):
                body = {key: value for key in FORM_KEYS}
                body["next"] = NOT_URL_NEXT[index % len(NOT_URL_NEXT)]
                hit(signed_in, "post", base, body)
                hit(anonymous, "post", base, body)
            if light:
                continue
            numbers = json.dumps({key: number for key in FORM_KEYS}).encode()
            for index, raw in enumerate([*JSON_BODIES, numbers]):
                key = BAD_KEYS[index % len(BAD_KEYS)]
                hit(signed_in, "json", base, raw, HTTP_IDEMPOTENCY_KEY=key)
                hit(anonymous, "json", base, raw)
    # Nothing the walk sent was stored: no study, import or prediction, and no job but the
    # clones that the clone buttons make of the one job (they take no input).
    from experiments.models import DatasetImport, ImagePrediction, Study, TrainingJob

    made = TrainingJob.objects.exclude(pk=job.pk)
    assert set(made.values_list("cloned_from", flat=True)) <= {job.pk}
    assert not (
        Study.objects.exists() or DatasetImport.objects.exists() or ImagePrediction.objects.exists()
    )
    codes = _sign_up_at_once(6, "same-name")
    tried += len(codes)
    failures += [f"simultaneous sign-up -> {code}" for code in codes if code >= 500]
    assert django_user_model.objects.filter(username="same-name").count() == 1
    print(f"\nURL walk: {len(templates)} patterns, {tried} hostile requests, {len(failures)} 5xx")
    assert not failures, "\n".join(failures[:40])
    assert tried > 2000


# --------------------------------------------------------------------------- Unicode digits


def _project_modules() -> None:
    """Import every module that defines forms, filters or serializers (views import them)."""
    import experiments
    import guide

    for package in (guide, experiments):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if re.search(r"(form|serializer|api|filter|view)s?$", info.name):
                importlib.import_module(info.name)


def _subclasses(base) -> set:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _ours(classes) -> list:
    mine = [c for c in classes if c.__module__.split(".")[0] in ("guide", "experiments")]
    return sorted(mine, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _form_number_fields():
    """(where, field) for every number field of every form and filter set of the project."""
    import django_filters

    _project_modules()
    for form in _ours(_subclasses(forms.BaseForm)):
        for name, field in form.base_fields.items():
            if isinstance(field, forms.IntegerField):  # FloatField, DecimalField too
                yield f"{form.__qualname__}.{name}", field
    yield from _admin_number_fields()
    for filterset in _ours(_subclasses(django_filters.FilterSet)):
        for name, filter_ in filterset.base_filters.items():
            if isinstance(filter_, django_filters.NumberFilter):
                yield f"{filterset.__qualname__}.{name}", filter_.field


def _admin_number_fields():
    """The admin builds its forms (and its inlines' forms) at request time."""
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("guide", "experiments"):
            continue
        built = [model_admin.get_form(request)]
        built += [i.get_formset(request).form for i in model_admin.get_inline_instances(request)]
        for form in built:
            for name, field in form.base_fields.items():
                if isinstance(field, forms.IntegerField):
                    yield f"admin {form.__name__}.{name}", field


def _serializer_number_fields():
    """(where, field) for every writable number field (list items, nested serializers and
    primary keys included) of every serializer of the project."""
    from rest_framework import serializers

    _project_modules()
    numbers = (
        serializers.IntegerField,
        serializers.FloatField,
        serializers.DecimalField,
        serializers.PrimaryKeyRelatedField,
    )

    def walk(where: str, field):
        if field.read_only:
            return
        if isinstance(field, serializers.ListSerializer | serializers.ListField):
            yield from walk(f"{where}[]", field.child)
        elif isinstance(field, serializers.ManyRelatedField):
            yield from walk(f"{where}[]", field.child_relation)
        elif isinstance(field, serializers.BaseSerializer):
            for name, child in field.fields.items():
                yield from walk(f"{where}.{name}", child)
        elif isinstance(field, numbers):
            yield where, field

    for serializer in _ours(_subclasses(serializers.BaseSerializer)):
        if issubclass(serializer, serializers.ModelSerializer) and not hasattr(serializer, "Meta"):
            continue  # a base class (AsciiModelSerializer)
        yield from walk(serializer.__qualname__, serializer())


def test_unicode_digits_are_refused_by_every_number_field_of_every_form_and_serializer():
    from rest_framework.exceptions import ValidationError as ApiValidationError

    assert len(UNICODE_NUMBERS) > 150  # some sixty scripts, three numbers each
    form_fields = list(_form_number_fields())
    serializer_fields = list(_serializer_number_fields())
    where = {w.split(".")[0] for w, _ in form_fields + serializer_fields}
    assert {"PlanForm", "LaunchForm", "MoocFilter", "LaunchSerializer", "UnitSerializer"} <= where
    assert any(w.startswith("admin ") for w in where)
    accepted = []
    for where, field in form_fields:
        for value in UNICODE_NUMBERS:
            try:
                field.to_python(value)  # the conversion alone, before any range check
            except ValidationError:
                continue
            accepted.append(f"{where} took {value!r}")
    for where, field in serializer_fields:
        for value in UNICODE_NUMBERS:
            try:
                field.to_internal_value(value)
            except ApiValidationError:
                continue
            accepted.append(f"{where} took {value!r}")
    assert not accepted, "\n".join(accepted[:40])


def test_int_paths_refuse_unicode_digits():
    """Django's <int:> converter is [0-9]+: a Unicode number matches no route with one."""
    int_routes = [t for t in url_templates() if "{}" in t]
    assert int_routes
    for value in UNICODE_NUMBERS[::3]:  # the integers
        for template in ["/experiments/runs/{}/", "/api/jobs/{}/", "/api/jobs/{}/metrics/"]:
            with pytest.raises(Resolver404):
                resolve(_fill(template, value))


@pytest.mark.django_db
def test_the_api_and_the_plan_answer_unicode_numbers_with_a_4xx_and_store_nothing(
    client, researcher, tiny_dataset
):
    from experiments.models import TrainingJob
    from tests.workers.tiny import TINY_JOB

    client.force_login(researcher)
    valid = {**TINY_JOB, "library": "fastai", "dataset": tiny_dataset.name}
    numbers = ["image_size", "batch_size", "max_batches", "epochs1", "epochs2", "seed", "lr1"]
    for turn, key in enumerate(numbers):
        value = UNICODE_NUMBERS[turn * 11 % len(UNICODE_NUMBERS)]
        answer = client.post("/api/jobs/", {**valid, key: value}, content_type="application/json")
        assert answer.status_code == 400 and key in answer.json(), (key, value, answer.content)
    assert not TrainingJob.objects.exists()
    for value in UNICODE_NUMBERS[::3][:20]:
        page = client.get(reverse("guide:plan"), {"hours": value, "start": "2026-01-05"})
        assert page.status_code == 400 and "hours" in page.context["form"].errors
