"""Reliability II (issue 17): no 500 on hostile requests, one life cycle for every background
object, throttles on the real address, logs for researchers only, idempotency keys per user
and request, zip members skipped one by one, 503 during outages, a lockout that says how long.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import zipfile
from datetime import timedelta
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from PIL import Image

from tests.conftest import BROKER, make_job

# Generated classes of `next` values that are not URLs of this site.
VIEW_NAMES = ["plan", "guide:plan", "home", "admin:index", "experiments:run_list", "x" * 300]
NOT_LOCAL = ["http://evil.example/", "//evil.example", "https:evil", "javascript:alert(1)"]
UNSAYABLE = ["\udcff", "/a\nb", "/a\rb", "\x7f/", "/\udcff", " /x", "?next=/"]
NOT_URLS = VIEW_NAMES + NOT_LOCAL + UNSAYABLE


def _raw(value: str) -> str:
    """Percent-encoded as a client may send it (lone surrogates as their raw bytes)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _png(size=8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _point_celery_at(url: str) -> None:
    from workers.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(settings, monkeypatch):
    """The Celery app points at a port where nothing listens (a broker that is down)."""
    from workers.celery import app

    saved = app.conf.broker_url
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CELERY_BROKER_URL = url
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads the environment first
    _point_celery_at(url)
    yield url
    _point_celery_at(saved)


@pytest.fixture
def researcher_client(researcher):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    return client


# ------------------------------------------------------------------ next targets


@pytest.mark.parametrize("target", NOT_URLS)
def test_non_url_next_values_fall_back_to_a_local_page(content, target):
    from guide.models import Unit

    client = Client(raise_request_exception=False)
    unit = Unit.objects.first()
    answers = [
        client.get(f"/language/es/?next={_raw(target)}"),
        client.post(
            f"/progress/units/{unit.pk}/",
            f"done=1&next={_raw(target)}",
            content_type="application/x-www-form-urlencoded",
        ),
    ]
    for answer in answers:
        assert answer.status_code == 302, (target, answer.status_code)
        assert answer["Location"].startswith("/") and not answer["Location"].startswith("//")
        assert "evil" not in answer["Location"]


def test_sign_up_with_a_non_url_next_signs_in_and_goes_to_the_plan(db):
    for index, target in enumerate(NOT_URLS):
        client = Client(raise_request_exception=False)
        fields = {
            "username": f"learner{index}",
            "email": f"l{index}@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
        }
        body = "&".join(f"{k}={_raw(v)}" for k, v in fields.items()) + f"&next={_raw(target)}"
        answer = client.post(
            "/accounts/signup/", body, content_type="application/x-www-form-urlencoded"
        )
        assert answer.status_code == 302, (target, answer.status_code)
        assert answer["Location"].startswith("/") and not answer["Location"].startswith("//")
        assert "evil" not in answer["Location"]


def test_simultaneous_sign_ups_with_one_name_create_one_account(transactional_db):
    from django.contrib.auth.models import User

    count, answers = 6, []
    barrier = threading.Barrier(count)

    def sign_up(index: int) -> None:
        from django.db import connection

        client = Client(raise_request_exception=False)
        barrier.wait()
        answers.append(
            client.post(
                "/accounts/signup/",
                {
                    "username": "same-name",
                    "email": f"s{index}@example.com",
                    "password1": "a-long-pass-phrase-42",
                    "password2": "a-long-pass-phrase-42",
                },
            )
        )
        connection.close()

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert User.objects.filter(username="same-name").count() == 1
    assert codes.count(302) == 1 and codes.count(400) == count - 1, codes
    for answer in answers:
        if answer.status_code == 400:
            assert "That user name is taken." in answer.content.decode()


# ------------------------------------------------------------------ JSON bodies


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [_deep(100_000), b'{"a":' * 50_000 + b"1" + b"}" * 50_000, _deep(33)],
    ids=["list-100000", "object-50000", "list-33"],
)
@pytest.mark.parametrize("url", ["/api/token/", "/api/jobs/", "/api/studies/"])
def test_deeply_nested_json_is_a_400_with_a_message(researcher_client, url, body):
    answer = researcher_client.post(url, body, content_type="application/json")
    assert answer.status_code == 400, answer.content[:200]
    assert "nested" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"library": "\\udcff", "architecture": "x", "dataset": "y"}',
        b'{"username": "\\ud800", "password": "x"}',
        b'{"\\udfff": 1}',
    ],
)
def test_a_lone_surrogate_in_json_is_a_400_not_echoed(researcher_client, body):
    for url in ("/api/jobs/", "/api/token/"):
        answer = researcher_client.post(url, body, content_type="application/json")
        assert answer.status_code == 400
        assert "Unicode" in answer.json()["detail"]


def test_invalid_and_oversized_json_get_json_answers(researcher_client, settings):
    settings.API_JSON_MAX_BYTES = 1000
    answer = researcher_client.post("/api/jobs/", b"{" * 3, content_type="application/json")
    assert answer.status_code == 400 and "line 1" in answer.json()["detail"]
    big = json.dumps({"name": "x" * 2000}).encode()
    answer = researcher_client.post("/api/studies/", big, content_type="application/json")
    assert answer.status_code == 413 and "larger" in answer.json()["detail"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 500  # Django's own limit: JSON too on the API
    answer = researcher_client.post("/api/studies/", big, content_type="application/json")
    assert answer.status_code == 413 and answer["Content-Type"] == "application/json"


# ------------------------------------------------------------------ launching twice


def _launch_form(dataset, key: str, **changes) -> dict:
    from experiments.jobs.presets import TABLE_4_1

    data = {**TABLE_4_1["fastai"], "library": "fastai", "architecture": "small-cnn"}
    data.update(dataset=dataset.name, pretrained="random", precision="auto", seed=1)
    data.update(keras_backend="auto", **changes)
    data = {k: v for k, v in data.items() if v is not False}
    return {k: ("on" if v is True else v) for k, v in data.items()} | {"idempotency_key": key}


def test_the_launch_form_submitted_twice_answers_with_the_first_job(
    researcher_client, tiny_dataset, broker_down
):
    from experiments.models import TrainingJob

    form = _launch_form(tiny_dataset, "double-submit-0001")
    first = researcher_client.post("/experiments/runs/new/", form)
    assert first.status_code == 302, first.content.decode()[:2000]
    again = researcher_client.post("/experiments/runs/new/", form, follow=True)
    assert again.status_code == 200 and again.redirect_chain[-1][0] == first["Location"]
    assert "already launched" in again.content.decode()
    assert TrainingJob.objects.filter(idempotency_key="double-submit-0001").count() == 1
    changed = researcher_client.post("/experiments/runs/new/", {**form, "seed": "7"})
    assert changed.status_code == 422


def test_idempotency_keys_are_checked_scoped_and_bound_to_the_body(
    researcher_client, tiny_dataset, django_user_model, broker_down
):
    from experiments.roles import ensure_researchers_group

    body = {"library": "fastai", "architecture": "small-cnn", "dataset": tiny_dataset.name}
    body |= {"pretrained": False, "epochs1": 1, "epochs2": 1}

    def post(client, key, data=body):
        return client.post(
            "/api/jobs/", data, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )

    for bad in ["short", "x" * 65, "has space!", "\u0661" * 10, "é" * 10, "a/b/c/d/e"]:
        answer = post(researcher_client, bad)
        assert answer.status_code == 400 and "Idempotency-Key" in answer.json(), bad
    first = post(researcher_client, "key-for-rita-1")
    assert first.status_code == 201
    assert post(researcher_client, "key-for-rita-1").json()["id"] == first.json()["id"]
    different = post(researcher_client, "key-for-rita-1", {**body, "epochs2": 2})
    assert different.status_code == 422 and "different" in different.json()["detail"]
    other = django_user_model.objects.create_user("olga", password="pw")
    other.groups.add(ensure_researchers_group())
    olga = Client(raise_request_exception=False)
    olga.force_login(other)
    theirs = post(olga, "key-for-rita-1")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


# ------------------------------------------------------------------ broker down


def test_objects_are_created_with_a_message_while_the_broker_is_down(
    transactional_db, researcher_client, tiny_dataset, broker_down, settings, tmp_path
):
    # transactional_db: messages are published on commit, as in a real request.
    from experiments.models import DatasetImport, ImagePrediction

    job = make_job(tiny_dataset, evaluation={"model_file": "x.keras", "classes": ["a"]})
    upload = io.BytesIO(_png())
    upload.name = "leaf.png"
    answer = researcher_client.post(f"/api/jobs/{job.pk}/predict/", {"image": upload})
    assert answer.status_code == 202, answer.content
    assert answer.json()["dispatched"] is False and "queue is back" in answer.json()["detail"]
    assert ImagePrediction.objects.get(pk=answer.json()["id"]).status == "queued"

    root = settings.DATA_ROOTS[0]
    answer = researcher_client.post(
        "/experiments/datasets/import/",
        {"name": "again", "path": str(root), "preset": "default"},
        follow=True,
    )
    assert answer.status_code == 200 and "queue is back" in answer.content.decode()
    settings.DATASET_UPLOAD_ROOT = tmp_path / "uploads"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/one.png", _png())
    archive.seek(0)
    archive.name = "set.zip"
    answer = researcher_client.post(
        "/experiments/datasets/upload/",
        {"name": "zipped", "preset": "default", "archive": archive},
        follow=True,
    )
    assert answer.status_code == 200 and "queue is back" in answer.content.decode()
    assert DatasetImport.objects.filter(status="queued").count() == 2


# ------------------------------------------------------------------ life cycle


@pytest.fixture
def broker_queues():
    """The test broker's queues, emptied of what a test sends (no worker consumes here)."""
    client = redis.Redis.from_url(BROKER)
    yield client
    client.delete("predict", "default", "gpu")


def _backdate(model, pk, seconds, field="created_at"):
    model.objects.filter(pk=pk).update(**{field: timezone.now() - timedelta(seconds=seconds)})


def test_the_reconciler_resends_queued_objects_oldest_first_once(
    tiny_dataset, settings, broker_queues
):
    from experiments import background
    from experiments.jobs.actions import reconcile
    from experiments.models import DatasetImport, ImagePrediction, TrainingJob

    settings.JOB_RESEND_AFTER = 60
    job = make_job(tiny_dataset)
    predictions = [ImagePrediction.objects.create(job=job, image="x.png") for _ in range(3)]
    for age, prediction in zip((100, 300, 200), predictions, strict=True):
        _backdate(ImagePrediction, prediction.pk, age)
    fresh = ImagePrediction.objects.create(job=job, image="y.png")  # younger than 60 s: waits
    imported = DatasetImport.objects.create(name="n", path="/nowhere", preset="default")
    _backdate(DatasetImport, imported.pk, 500)

    sent = background.reconcile()
    oldest_first = [predictions[1].pk, predictions[2].pk, predictions[0].pk]
    assert sent == {"workers.predict_image": oldest_first, "workers.import_dataset": [imported.pk]}
    assert fresh.pk not in sent["workers.predict_image"]
    assert broker_queues.llen("predict") == 3
    assert background.reconcile() == {}  # still waiting on the broker: not sent twice

    jobs = [make_job(tiny_dataset, status="queued") for _ in range(3)]
    for age, queued in zip((100, 300, 200), jobs, strict=True):
        _backdate(TrainingJob, queued.pk, age)
    assert reconcile() == [jobs[1].pk, jobs[2].pk, jobs[0].pk]


def test_what_a_dead_worker_leaves_is_failed_with_a_reason_and_shown(
    tiny_dataset, settings, researcher_client
):
    from experiments import background
    from experiments.models import DatasetImport, ImagePrediction

    job = make_job(tiny_dataset)
    settings.PREDICTION_DEADLINE = 600
    settings.IMPORT_STALE_AFTER = 600
    stuck = ImagePrediction.objects.create(job=job, image="x.png", status="running")
    waiting = ImagePrediction.objects.create(job=job, image="x.png")
    recent = ImagePrediction.objects.create(job=job, image="x.png", status="running")
    _backdate(ImagePrediction, stuck.pk, 700)
    _backdate(ImagePrediction, waiting.pk, 700)
    running = DatasetImport.objects.create(name="n", path="/x", preset="default", status="running")
    alive = DatasetImport.objects.create(name="m", path="/x", preset="default", status="running")
    _backdate(DatasetImport, running.pk, 700, "updated_at")

    assert background.reap() == 3
    for row in (stuck, waiting, running):
        row.refresh_from_db()
        assert row.status == "failed" and "worker stopped" in row.error
    recent.refresh_from_db()
    alive.refresh_from_db()
    assert recent.status == "running" and alive.status == "running"
    state = researcher_client.get(f"/api/image-predictions/{stuck.pk}/").json()
    assert state["status"] == "failed" and "worker stopped" in state["error"]
    page = researcher_client.get(f"/experiments/datasets/imports/{running.pk}/?format=json")
    assert page.json()["status"] == "failed" and "worker stopped" in page.json()["error"]
    spanish = researcher_client.get(
        f"/api/image-predictions/{stuck.pk}/", HTTP_ACCEPT_LANGUAGE="es"
    ).json()
    assert spanish["error"] != state["error"]


def test_an_import_runs_once_however_often_its_message_arrives(tiny_dataset, settings):
    from experiments.datasets.imports import run_import
    from experiments.models import DatasetImport

    record = DatasetImport.objects.create(
        name="twice", path=str(settings.DATA_ROOTS[0]), preset="default"
    )
    assert run_import(record.pk) == "succeeded"
    assert run_import(record.pk) == "skipped"


def test_the_visibility_timeout_outlasts_a_day_long_job():
    # Set in settings for Redis brokers (the test broker is Redis).
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 24 * 3600


# ------------------------------------------------------------------ throttles and lockout


def test_a_rotating_forwarded_header_does_not_bypass_the_anonymous_throttle(content, settings):
    from django.core.cache import cache

    settings.API_THROTTLE_RATES = {"anon": "5/minute", "user": "100000/minute"}
    cache.clear()
    client = Client(raise_request_exception=False)
    codes = [
        client.get("/api/courses/", HTTP_X_FORWARDED_FOR=f"10.0.{i // 250}.{i % 250}").status_code
        for i in range(12)
    ]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    cache.clear()


def test_the_lockout_says_how_long_and_counts_one_account_across_addresses(db, settings):
    from axes.models import AccessAttempt
    from django.contrib.auth.models import User

    User.objects.create_user("target", password="right-password-1")
    client = Client(raise_request_exception=False)

    def guess(address: str, password: str = "wrong"):
        return client.post(
            "/accounts/login/",
            {"username": "target", "password": password},
            REMOTE_ADDR=address,
        )

    for index in range(settings.AXES_FAILURE_LIMIT - 1):
        assert guess(f"10.1.0.{index}").status_code == 200  # wrong password, form again
    assert guess("10.1.0.99").status_code == 429  # the limit, over all addresses
    locked = guess("10.1.9.9", "right-password-1")  # a new address: the account is locked
    assert locked.status_code == 429
    assert "15 minutes" in locked.content.decode()
    first = AccessAttempt.objects.filter(username="target").order_by("pk").first()
    began = first.attempt_time
    guess("10.1.9.9")
    first.refresh_from_db()
    assert first.attempt_time == began  # a guess during the lockout does not restart it


# ------------------------------------------------------------------ logs, outages, numbers


def test_the_job_log_is_for_researchers_only(tiny_dataset, researcher, visitor, settings):
    from workers.training.storage import job_folder

    job = make_job(tiny_dataset, status="failed", error="Out of memory.\n\nTraceback /srv/x.py")
    folder = job_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.log").write_text("Traceback (most recent call last):\n  File /srv/x.py\n")
    url = f"/experiments/runs/{job.pk}/download/log/"
    for user in (None, visitor):
        client = Client(raise_request_exception=False)
        if user:
            client.force_login(user)
        answer = client.get(url)
        assert answer.status_code == 403
        text = answer.content.decode()
        assert "Out of memory." in text and "/srv" not in text and "Traceback" not in text
        assert "Download log" not in client.get(f"/experiments/runs/{job.pk}/").content.decode()
    client = Client()
    client.force_login(researcher)
    answer = client.get(url)
    assert answer.status_code == 200 and b"/srv/x.py" in b"".join(answer.streaming_content)


@pytest.mark.parametrize(
    "error",
    ["django.db.OperationalError", "django.db.InterfaceError", "kombu.exceptions.OperationalError"],
)
def test_an_unreachable_database_or_broker_is_a_503_with_retry_after(rf, error):
    from django.utils.module_loading import import_string

    from config.errors import server_error

    for path, kind in (("/experiments/", "text/html"), ("/api/jobs/", "application/json")):
        try:
            raise import_string(error)("connection refused")
        except Exception:
            answer = server_error(rf.get(path))
        assert answer.status_code == 503 and int(answer["Retry-After"]) > 0
        assert answer["Content-Type"].startswith(kind)
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(rf.get("/api/jobs/")).status_code == 500


@pytest.mark.parametrize("digits", ["\u0661\u0662", "\u06f3", "\u0967", "\uff11", "1\u0660"])
def test_unicode_digits_are_not_numbers(researcher_client, tiny_dataset, digits):
    from experiments.jobs.forms import LaunchForm

    form = LaunchForm(_launch_form(tiny_dataset, "unicode-digit-01", seed=digits))
    assert not form.is_valid() and "seed" in form.errors
    assert researcher_client.get(f"/api/studies/{digits}/").status_code == 404
    assert researcher_client.get("/api/compare/paired/", {"a": digits, "b": 1}).status_code == 400
    assert researcher_client.get(f"/experiments/runs/{digits}/").status_code == 404
