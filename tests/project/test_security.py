"""Login lockout, API throttles, expiring tokens, tracebacks, CSP, audit of cancels/clones."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token

from experiments.models import TrainingJob
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_superuser("alice", "a@example.com", "right-pass-1")


@pytest.mark.parametrize(
    "url, fields",
    [
        ("/accounts/login/", {}),
        ("/admin/login/", {"next": "/admin/"}),
        ("/api/token/", {}),
    ],
)
def test_every_login_locks_out_after_repeated_wrong_passwords(client, alice, url, fields, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(6):
        response = client.post(url, {"username": "alice", "password": "wrong", **fields})
        assert response.status_code < 500
    # The right password no longer works from here: locked out, 4xx, no session, no token.
    response = client.post(url, {"username": "alice", "password": "right-pass-1", **fields})
    assert response.status_code in (403, 429)
    assert b"token" not in response.content.lower() or url != "/api/token/"
    assert "_auth_user_id" not in client.session


def test_the_api_throttles_anonymous_clients(client, settings):
    cache.clear()
    settings.API_THROTTLE_RATES = {"anon": "3/minute", "user": "1000/minute"}
    codes = [client.get("/api/jobs/").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    cache.clear()


def test_tokens_expire_and_die_with_a_password_change(client, researcher, settings):
    response = client.post("/api/token/", {"username": "rita", "password": "password"})
    assert response.status_code == 200 and response.json()["expires"]
    auth = {"HTTP_AUTHORIZATION": f"Token {response.json()['token']}"}
    # Authenticated with launch permission: a missing job is a 404, not a 401/403.
    assert client.post("/api/jobs/999999/cancel/", **auth).status_code == 404
    Token.objects.update(created=timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS + 1))
    expired = client.post("/api/jobs/999999/cancel/", **auth)
    # 401/403 (DRF answers 403 when session authentication comes first).
    assert expired.status_code in (401, 403) and "expired" in expired.json()["detail"]
    assert not Token.objects.exists()

    fresh = client.post("/api/token/", {"username": "rita", "password": "password"}).json()
    auth = {"HTTP_AUTHORIZATION": f"Token {fresh['token']}"}
    assert client.post("/api/jobs/999999/cancel/", **auth).status_code == 404
    researcher.set_password("another-password-2")
    researcher.save()
    assert client.post("/api/jobs/999999/cancel/", **auth).status_code in (401, 403)
    assert not Token.objects.exists()


def test_tracebacks_only_for_researchers(client, tiny_dataset, researcher):
    job = make_job(
        tiny_dataset, status="failed", error="Disk full.\n\nTraceback (most recent call last): x"
    )
    for url in (f"/experiments/runs/{job.pk}/", f"/experiments/runs/{job.pk}/live/"):
        page = client.get(url).content.decode()
        assert "Disk full." in page and "Traceback" not in page
    assert "Traceback" not in client.get(f"/api/jobs/{job.pk}/").json()["error"]
    client.force_login(researcher)
    assert "Traceback" in client.get(f"/experiments/runs/{job.pk}/").content.decode()
    assert "Traceback" in client.get(f"/api/jobs/{job.pk}/").json()["error"]


def test_pages_send_a_content_security_policy_and_ignore_proxy_headers(client, settings):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert settings.SECURE_PROXY_SSL_HEADER is None
    assert not client.get("/", HTTP_X_FORWARDED_PROTO="https").wsgi_request.is_secure()


def test_password_reset_says_where_the_mail_went(client, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    response = client.post("/accounts/password_reset/", {"email": "a@example.com"}, follow=True)
    assert response.status_code == 200
    assert "log" in response.content.decode()


def test_cancel_and_clone_are_recorded_and_cancel_can_be_limited(
    client, tiny_dataset, researcher, django_user_model, settings
):
    from experiments.jobs.actions import ActionRefused, cancel, clone

    job = make_job(tiny_dataset, status="queued")
    client.force_login(researcher)
    client.post(f"/experiments/runs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "cancelled" and job.cancelled_by == researcher
    copy = clone(job, researcher)
    assert copy.cloned_from == job
    page = client.get(f"/experiments/runs/{copy.pk}/").content.decode()
    assert f"#{job.pk}" in page
    assert "rita" in client.get(f"/experiments/runs/{job.pk}/").content.decode()

    settings.JOBS_CANCEL_OWN_ONLY = True
    other = django_user_model.objects.create_user("olga", password="x")
    with pytest.raises(ActionRefused, match="Only the researcher"):
        cancel(copy, other)
    assert TrainingJob.objects.get(pk=copy.pk).status == "queued"
    assert cancel(copy, researcher) == "cancelled"


def test_oversized_bodies_get_a_4xx(client, researcher):
    client.force_login(researcher)
    big = "x" * (3 * 1024 * 1024)  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    api = client.post("/api/jobs/", f'{{"library": "{big}"}}', content_type="application/json")
    form = client.post("/experiments/runs/new/", {"library": big})
    assert 400 <= api.status_code < 500 and 400 <= form.status_code < 500
