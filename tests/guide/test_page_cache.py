"""Guide pages kept per content version: an admin's edit shows at once, sessions get their own."""

import json

import pytest

from guide.models import GlossaryTerm, ProgrammeComparison

pytestmark = pytest.mark.django_db


def _admin_form(obj) -> dict:
    """What the admin's change form posts for an unchanged object (the fields it shows)."""
    data = {}
    for field in obj._meta.concrete_fields + obj._meta.many_to_many:
        if not field.editable or field.primary_key:
            continue
        value = field.value_from_object(obj)
        if field.many_to_many:
            value = [item.pk for item in value]
        elif isinstance(value, list | dict):
            value = json.dumps(value)
        data[field.name] = value
    return data


def test_an_admin_edit_shows_on_the_kept_glossary_page(
    client, content, admin_user, django_capture_on_commit_callbacks
):
    term = GlossaryTerm.objects.get(slug="transfer-learning")
    before = client.get("/glossary/")
    assert before.status_code == 200
    assert client.get("/glossary/").content == before.content  # the kept page
    assert "Reused knowledge, edited in the admin." not in before.content.decode()

    editor = client.__class__()
    editor.force_login(admin_user)
    data = _admin_form(term) | {"definition_en": "Reused knowledge, edited in the admin."}
    with django_capture_on_commit_callbacks(execute=True):
        saved = editor.post(f"/admin/guide/glossaryterm/{term.pk}/change/", data, secure=True)
    assert saved.status_code == 302, saved.content.decode()[:2000]

    after = client.get("/glossary/")
    assert "Reused knowledge, edited in the admin." in after.content.decode()


def test_an_edit_of_unsearched_content_renews_the_compare_page(
    client, content, django_capture_on_commit_callbacks
):
    assert client.get("/compare/").status_code == 200
    aspect = ProgrammeComparison.objects.first()
    aspect.ng_en = "A renewed comparison line."
    with django_capture_on_commit_callbacks(execute=True):
        aspect.save()
    assert "A renewed comparison line." in client.get("/compare/").content.decode()


def test_visitors_with_a_session_get_their_own_page(client, content, admin_user):
    anonymous = client.get("/glossary/").content.decode()
    client.force_login(admin_user)
    logged_in = client.get("/glossary/").content.decode()
    assert admin_user.get_username() in logged_in and admin_user.get_username() not in anonymous
