"""Progress: ticks in the session when anonymous, in the account when signed in, carried over at
sign-in; sign-up; "continue where you left off"; course status banners."""

from datetime import date

import pytest
from django.contrib.auth import get_user_model

from guide.models import Mooc, Unit, UnitProgress
from guide.progress import SESSION_KEY
from guide.search.index import rebuild

pytestmark = pytest.mark.django_db


def tick(client, slug, done=True, next_url=None):
    unit = Unit.objects.get(slug=slug)
    data = {"done": "1" if done else "0"}
    if next_url:
        data["next"] = next_url
    return client.post(f"/progress/units/{unit.pk}/", data)


def test_anonymous_progress_lives_in_the_session(client, content):
    response = tick(client, "ng-1", next_url="/programmes/ng/")
    assert response.status_code == 302 and response["Location"] == "/programmes/ng/"
    assert client.session[SESSION_KEY] == [Unit.objects.get(slug="ng-1").pk]
    assert not UnitProgress.objects.exists()
    html = client.get("/programmes/ng/").content.decode()
    assert "1 of 5 units done." in html and "Continue where you left off" in html
    assert 'href="/programmes/ng/ng-2/"' in html.split("Continue where you left off")[0][-200:]
    html = client.get("/courses/deep-learning-specialization/").content.decode()
    assert "1 of 5 units done." in html
    tick(client, "ng-1", done=False)
    assert client.session[SESSION_KEY] == []


def test_signed_in_progress_is_saved_to_the_account(client, content):
    user = get_user_model().objects.create_user("lena", password="a-long-pass-phrase")
    client.force_login(user)
    tick(client, "fastai-1")
    assert list(UnitProgress.objects.filter(user=user).values_list("unit__slug", flat=True)) == [
        "fastai-1"
    ]
    html = client.get("/programmes/fastai/fastai-1/").content.decode()
    assert 'aria-pressed="true"' in html
    tick(client, "fastai-1", done=False)
    assert not UnitProgress.objects.filter(user=user).exists()


def test_session_progress_is_carried_over_at_sign_in(client, content):
    user = get_user_model().objects.create_user("lena", password="a-long-pass-phrase")
    UnitProgress.objects.create(user=user, unit=Unit.objects.get(slug="ng-2"))
    tick(client, "ng-1")
    tick(client, "ng-2")
    response = client.post(
        "/accounts/login/", {"username": "lena", "password": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    done = set(UnitProgress.objects.filter(user=user).values_list("unit__slug", flat=True))
    assert done == {"ng-1", "ng-2"}
    assert SESSION_KEY not in client.session


def test_sign_up_keeps_the_session_progress_and_joins_no_group(client, content):
    tick(client, "fastai-1")
    assert client.get("/accounts/signup/").status_code == 200
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newlearner",
            "email": "new@example.org",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
            "next": "/plan/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/plan/"
    user = get_user_model().objects.get(username="newlearner")
    assert not user.groups.exists() and not user.is_staff
    assert list(UnitProgress.objects.filter(user=user).values_list("unit__slug", flat=True)) == [
        "fastai-1"
    ]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"username": "x y", "email": "a@b.org", "password1": "a-long-pass-phrase"}, "username"),
        ({"username": "ok", "email": "nope", "password1": "a-long-pass-phrase"}, "email"),
        ({"username": "ok", "email": "a@b.org", "password1": "123"}, "password1"),
    ],
)
def test_bad_sign_up_is_a_400_with_a_message(client, content, data, field):
    data.setdefault("password2", data["password1"])
    response = client.post("/accounts/signup/", {**data, "next": "https://evil.example/"})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not get_user_model().objects.exists()


def test_taken_user_name_and_unknown_unit(client, content):
    get_user_model().objects.create_user("lena", password="a-long-pass-phrase")
    response = client.post(
        "/accounts/signup/",
        {
            "username": "LENA",
            "email": "a@b.org",
            "password1": "x-long-pass-phrase",
            "password2": "x-long-pass-phrase",
        },
    )
    assert response.status_code == 400
    assert client.post("/progress/units/999999/", {"done": "1"}).status_code == 404
    assert client.get(f"/progress/units/{Unit.objects.first().pk}/").status_code == 405


def test_unsafe_next_is_ignored(client, content):
    response = tick(client, "ng-3", next_url="https://evil.example/")
    assert response["Location"] == "/programmes/ng/ng-3/"


def test_password_reset_page_exists(client, content):
    assert client.get("/accounts/password_reset/").status_code == 200


def test_plan_shows_progress_and_continue(client, content):
    tick(client, "ng-1")
    html = client.get("/plan/?path=theory-first&hours=6&start=2020-01-06").content.decode()
    assert "1 of 5 units done." in html
    assert "Continue where you left off" in html and "Re-planned from today" in html


def test_course_status_banners(client, content):
    html = client.get("/courses/fastai-course-v3/").content.decode()
    assert "status-banner" not in html
    Mooc.objects.filter(slug="fastai-course-v3").update(
        status=Mooc.SUPERSEDED,
        successor_name="Practical Deep Learning for Coders 2022",
        successor_url="https://course.fast.ai/",
        status_checked=date(2026, 3, 1),
    )
    rebuild()  # what an admin's edit does: kept pages are of the older content version
    html = client.get("/courses/fastai-course-v3/").content.decode()
    assert "status-superseded" in html and "Practical Deep Learning for Coders 2022" in html
    assert "Last checked" in html and "as published" in html
    assert "14" in html  # the thesis's facts stay: 14 weeks
    es = client.get("/courses/fastai-course-v3/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Sustituido:" in es and "Comprobado por última vez" in es
    Mooc.objects.filter(slug="fastai-course-v3").update(status=Mooc.ARCHIVED)
    rebuild()
    html = client.get("/courses/fastai-course-v3/").content.decode()
    assert "status-archived" in html and "no longer offered" in html


def test_course_status_survives_export_and_load(content, tmp_path):
    import yaml

    from guide.contentio import export_content, load_content

    Mooc.objects.filter(slug="fastai-course-v3").update(
        status=Mooc.ARCHIVED, status_checked=date(2026, 3, 1)
    )
    export_content(tmp_path)
    exported = yaml.safe_load((tmp_path / "moocs.yaml").read_text(encoding="utf-8"))
    entry = next(m for m in exported["moocs"] if m["slug"] == "fastai-course-v3")
    assert entry["status"]["state"] == "archived"
    Mooc.objects.filter(slug="fastai-course-v3").update(status=Mooc.CURRENT, status_checked=None)
    assert load_content(tmp_path).changed == 1
    mooc = Mooc.objects.get(slug="fastai-course-v3")
    assert (mooc.status, mooc.status_checked) == ("archived", date(2026, 3, 1))


def test_password_reset_sends_a_mail(client, content, mailoutbox):
    get_user_model().objects.create_user("lena", email="lena@example.org", password="x-long-pass")
    response = client.post("/accounts/password_reset/", {"email": "lena@example.org"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body
