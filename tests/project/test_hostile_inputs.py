"""Every URL pattern, walked with hostile values: no input may produce a 5xx.

Generic over get_resolver(), so routes added later are covered too. Hostile values go into
path parameters, the query string and POST bodies, as an anonymous visitor and as a superuser.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from tests.conftest import make_job

HOSTILE_PATH = [
    "abc", "0", "-1", "\u00b2", "9" * 400, str(2**63), "%00", "a%00b", "..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3E", "%F0%9F%92%A9", "1.5", "%C0%AE",
]  # fmt: skip
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


@pytest.mark.slow
def test_every_url_answers_hostile_input_without_a_5xx(
    transactional_db, content, tiny_dataset, django_user_model
):
    job = make_job(tiny_dataset, error="Boom\n\nTraceback: secret detail")
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    templates = url_templates()
    assert len(templates) > 40 and any("jobs" in t for t in templates)
    anonymous = Client(raise_request_exception=False)
    staff = Client(raise_request_exception=False)
    tried, failures = 0, []

    def hit(client: Client, method: str, url: str, data=None) -> None:
        nonlocal tried
        tried += 1
        if method == "get":
            response = client.get(url)
        else:
            response = client.post(url, data or {})
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url[:160]} -> {response.status_code}")

    for template in templates:
        staff.force_login(admin)
        if "logout" in template:
            continue
        samples = {"1", str(job.pk), "tiny"} if "{}" in template else {""}
        for value in HOSTILE_PATH if "{}" in template else [""]:
            url = _fill(template, value)
            hit(anonymous, "get", url)
            hit(staff, "get", url)
        for sample in samples:
            base = _fill(template, sample)
            for value in HOSTILE_VALUES:
                query = "&".join(f"{key}={_safe(value)}" for key in QUERY_KEYS)
                hit(anonymous, "get", f"{base}?{query}")
                hit(staff, "get", f"{base}?{query}")
            for value in HOSTILE_VALUES[:9]:
                body = {key: value for key in FORM_KEYS}
                hit(staff, "post", base, body)
                hit(anonymous, "post", base, body)
    print(f"\nURL walk: {len(templates)} patterns, {tried} hostile requests, {len(failures)} 5xx")
    assert not failures, "\n".join(failures[:40])
    assert tried > 1000
