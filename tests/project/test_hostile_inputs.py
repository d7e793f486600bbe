"""Every URL pattern, walked with hostile values: no input may produce a 5xx.

Generic over get_resolver(), so routes added later are covered too. Hostile values go into
path parameters, the query string, form and JSON bodies and the Idempotency-Key header, as an
anonymous visitor and as a researcher (Django's admin as a superuser). The classes of input:
NUL bytes, Unicode digits, numbers out of range, lone surrogates, `next` values that are not
URLs of this site, JSON nested 100,000 deep, oversized bodies, and simultaneous sign-ups with
one name.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from tests.conftest import make_job

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
    "\x00", "a\x00b", "\u00b2", "\u0661\u0662", "9" * 400, str(2**63), "-1", "1e309", "nan",
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

    for template in templates:
        # Logging out and the admin's delete confirmations (any POST confirms) are not input
        # handling; walking them would only remove the walker.
        if "logout" in template or "delete" in template:
            continue
        # Django's own admin gets a lighter walk (as a superuser) than this project's routes.
        light = template.startswith("/admin/")
        signed_in.force_login(admin if light else rita)
        path_values = HOSTILE_PATH[:5] if light else HOSTILE_PATH
        values = HOSTILE_VALUES[:3] if light else HOSTILE_VALUES
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
            for index, raw in enumerate(JSON_BODIES):
                key = BAD_KEYS[index % len(BAD_KEYS)]
                hit(signed_in, "json", base, raw, HTTP_IDEMPOTENCY_KEY=key)
                hit(anonymous, "json", base, raw)
    codes = _sign_up_at_once(6, "same-name")
    tried += len(codes)
    failures += [f"simultaneous sign-up -> {code}" for code in codes if code >= 500]
    assert django_user_model.objects.filter(username="same-name").count() == 1
    print(f"\nURL walk: {len(templates)} patterns, {tried} hostile requests, {len(failures)} 5xx")
    assert not failures, "\n".join(failures[:40])
    assert tried > 2000
