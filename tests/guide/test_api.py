"""The read-only REST API of the guide."""

import pytest

pytestmark = pytest.mark.django_db


def test_courses_list_filters_and_paginates(client, content):
    data = client.get("/api/courses/").json()
    assert data["count"] == 7 and len(data["results"]) == 7
    free = client.get("/api/courses/", {"free": "true"}).json()
    assert {c["slug"] for c in free["results"]} >= {"fastai-course-v3"}
    assert all(c["is_free"] for c in free["results"])
    keras = client.get("/api/courses/", {"library": "keras", "certificate": "true"}).json()
    assert {c["slug"] for c in keras["results"]} == {
        "deep-learning-specialization",
        "ibm-deep-learning-professional-certificate",
    }
    detail = client.get("/api/courses/deep-learning-specialization/").json()
    assert detail["monthly_price_eur"] == "44.00" and detail["programme"] == "ng"


def test_units_topics_crossrefs_glossary(client, content):
    lessons = client.get("/api/units/", {"programme": "fastai"}).json()
    assert lessons["count"] == 14
    page2 = client.get("/api/glossary/", {"page": 2}).json()
    assert page2["count"] == 124 and len(page2["results"]) == 20 and page2["previous"]
    only_ng = client.get("/api/topics/", {"coverage": "ng"}).json()
    assert all(t["coverage"] == "ng" and t["exclusive"] for t in only_ng["results"])
    refs = client.get("/api/cross-references/", {"ng": "ng-4"}).json()
    assert refs["count"] >= 1 and all(r["ng_unit"] == "ng-4" for r in refs["results"])
    terms = client.get("/api/glossary/", {"q": "convolucion"}).json()
    assert "convolutional-neural-network" in {t["slug"] for t in terms["results"]}
    programme = client.get("/api/programmes/fastai/").json()
    assert len(programme["units"]) == 14


@pytest.mark.parametrize(
    "url,params",
    [
        ("/api/courses/", {"free": "maybe"}),
        ("/api/courses/", {"max_weeks": "ten"}),
        ("/api/units/", {"programme": "udacity"}),
        ("/api/units/", {"part": "one"}),
        ("/api/topics/", {"coverage": "neither"}),
    ],
)
def test_invalid_filters_are_400_with_a_message(client, content, url, params):
    response = client.get(url, params)
    assert response.status_code == 400
    field = next(iter(params))
    assert field in response.json()


def test_unknown_objects_are_404(client, content):
    assert client.get("/api/courses/nope/").status_code == 404
    assert client.get("/api/units/", {"page": 99}).status_code == 404


def test_api_is_read_only(client, content, admin_user):
    assert client.post("/api/courses/", {"slug": "x"}).status_code in (401, 403)
    client.force_login(admin_user)
    assert (
        client.post("/api/courses/", {"slug": "x"}, content_type="application/json").status_code
        == 405
    )
    assert client.delete("/api/courses/fastai-course-v3/").status_code == 405


def test_openapi_schema_and_browsable_docs(client, content):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/courses/",
        "/api/units/",
        "/api/topics/",
        "/api/cross-references/",
        "/api/glossary/",
        "/api/search/",
        "/api/programmes/",
    ]:
        assert path in schema["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
