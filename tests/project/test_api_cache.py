"""API lists kept as rendered JSON (config/api_cache.py): the same bytes as a fresh answer, new
bytes as soon as the data changes, and never one client's answer for another with other rights."""

import pytest
from django.core.cache import caches
from rest_framework.authtoken.models import Token

from experiments.models import TrainingJob
from guide.models import GlossaryTerm
from tests.conftest import make_job

pytestmark = pytest.mark.django_db

TRACEBACK = "Out of memory on the GPU.\n\nTraceback (most recent call last):\n  File secret.py"


def _fresh(client, url: str, **headers) -> bytes:
    """The answer as it is built without any kept copy."""
    caches["local"].clear()
    return client.get(url, **headers).content


def test_a_kept_jobs_list_is_the_fresh_answer_until_a_job_changes(
    client, django_assert_max_num_queries
):
    first, second = make_job(), make_job(library="keras")
    answer = client.get("/api/jobs/")
    assert [row["id"] for row in answer.json()["results"]] == [second.pk, first.pk]
    with django_assert_max_num_queries(2):  # the count and the shown rows' versions
        kept = client.get("/api/jobs/")
    assert kept.content == answer.content == _fresh(client, "/api/jobs/")
    assert kept["Content-Type"] == "application/json"

    TrainingJob.objects.filter(pk=first.pk).update(status=TrainingJob.FAILED, error="Disk full.")
    rows = {row["id"]: row for row in client.get("/api/jobs/").json()["results"]}
    assert rows[first.pk]["status"] == "failed" and rows[first.pk]["error"] == "Disk full."

    third = make_job(architecture="vgg16")
    assert client.get("/api/jobs/").json()["results"][0]["id"] == third.pk
    second.delete()
    assert [r["id"] for r in client.get("/api/jobs/").json()["results"]] == [third.pk, first.pk]
    filtered = client.get("/api/jobs/?library=keras").json()
    assert filtered["count"] == 0 and filtered["results"] == []
    assert client.get("/api/jobs/?library=fastai").json()["count"] == 2
    TrainingJob.objects.filter(pk=third.pk).update(library="keras")
    assert client.get("/api/jobs/?library=fastai").json()["count"] == 1
    assert client.get("/api/jobs/?library=keras").json()["results"][0]["id"] == third.pk
    assert client.get("/api/jobs/?library=nope").status_code == 400
    for page in ("9", "0", "x", "99999999999999999999999"):
        assert client.get(f"/api/jobs/?page={page}").status_code == 404


def test_a_kept_jobs_list_never_crosses_roles(client, researcher, visitor):
    make_job(status=TrainingJob.FAILED, error=TRACEBACK)

    def error_seen(who) -> str:
        other = client.__class__()
        if who == "token":
            token, _created = Token.objects.get_or_create(user=researcher)
            return other.get("/api/jobs/", HTTP_AUTHORIZATION=f"Token {token.key}").json()[
                "results"
            ][0]["error"]
        if who is not None:
            other.force_login(who)
        return other.get("/api/jobs/").json()["results"][0]["error"]

    # Researchers first, then clients without the right, then researchers again.
    assert error_seen(researcher) == TRACEBACK
    assert error_seen(None) == "Out of memory on the GPU."
    assert error_seen(visitor) == "Out of memory on the GPU."
    assert error_seen("token") == TRACEBACK
    caches["local"].clear()
    assert error_seen(None) == "Out of memory on the GPU."
    assert error_seen("token") == TRACEBACK


def test_the_browsable_api_is_rendered_not_kept(client):
    make_job()
    client.get("/api/jobs/")
    html = client.get("/api/jobs/", HTTP_ACCEPT="text/html")
    assert html["Content-Type"].startswith("text/html")
    indented = client.get("/api/jobs/", HTTP_ACCEPT="application/json; indent=2").content
    assert indented.startswith(b'{\n  "count"')


def test_kept_guide_answers_follow_an_edit(client, content, django_capture_on_commit_callbacks):
    urls = ["/api/glossary/", "/api/glossary/accuracy/", "/api/search/?q=accuracy"]
    before = {url: client.get(url).content for url in urls}
    for url in urls:
        assert client.get(url).content == before[url] == _fresh(client, url)
        assert b"Reused knowledge, edited." not in before[url]
    term = GlossaryTerm.objects.get(slug="accuracy")  # on the first page
    term.definition_en = "Reused knowledge, edited."
    with django_capture_on_commit_callbacks(execute=True):
        term.save()  # rebuilds the search index: a new content version
    for url in urls:
        assert b"Reused knowledge, edited." in client.get(url).content, url
    spanish = client.get("/api/glossary/accuracy/", HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.content == _fresh(client, "/api/glossary/accuracy/", HTTP_ACCEPT_LANGUAGE="es")
