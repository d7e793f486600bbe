"""Researcher pages and the jobs API: permissions, validation, query budgets, bad input."""

import csv
import io

import pytest
from rest_framework.authtoken.models import Token

from experiments.models import TrainingJob
from tests.conftest import make_job

pytestmark = pytest.mark.django_db

ACTIONS = [
    ("get", "/experiments/runs/new/"),
    ("post", "/experiments/runs/new/"),
    ("get", "/experiments/reproduce/"),
    ("post", "/experiments/reproduce/"),
    ("get", "/experiments/datasets/import/"),
    ("post", "/experiments/datasets/import/"),
    ("post", "/experiments/runs/{job}/cancel/"),
]
READ_PAGES = [
    "/experiments/",
    "/experiments/runs/{job}/",
    "/experiments/runs/{job}/live/",
    "/experiments/compare/?ids={job}",
    "/experiments/table-4-2/",
    "/experiments/datasets/",
    "/experiments/datasets/tiny/",
    "/experiments/workers/",
]


@pytest.fixture
def job(tiny_dataset):
    return make_job(tiny_dataset, status="running")


@pytest.mark.parametrize("method,url", ACTIONS)
def test_anonymous_actions_redirect_to_login(client, job, method, url):
    response = getattr(client, method)(url.format(job=job.pk))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("method,url", ACTIONS)
def test_logged_in_without_permission_is_403(client, visitor, job, method, url):
    client.force_login(visitor)
    assert getattr(client, method)(url.format(job=job.pk)).status_code == 403


@pytest.mark.parametrize("url", READ_PAGES)
def test_anyone_reads_results(client, job, url):
    assert client.get(url.format(job=job.pk)).status_code == 200


@pytest.mark.parametrize(
    "method,url,data",
    [
        (
            "post",
            "/api/jobs/",
            {"library": "fastai", "architecture": "small-cnn", "dataset": "tiny"},
        ),
        ("post", "/api/jobs/{job}/cancel/", {}),
        ("post", "/api/jobs/{job}/clone/", {}),
    ],
)
def test_api_actions_need_a_researcher(client, visitor, job, method, url, data):
    url = url.format(job=job.pk)
    assert getattr(client, method)(url, data, content_type="application/json").status_code in (
        401,
        403,
    )
    token = Token.objects.create(user=visitor)
    response = getattr(client, method)(
        url, data, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 403
    assert TrainingJob.objects.count() == 1
    job.refresh_from_db()
    assert not job.cancel_requested


def test_api_reads_are_open(client, job):
    assert client.get("/api/jobs/").json()["count"] == 1
    assert client.get(f"/api/jobs/{job.pk}/").json()["architecture"] == "resnet50"
    assert len(client.get(f"/api/jobs/{job.pk}/metrics/").json()) == 5
    figures = client.get(f"/api/jobs/{job.pk}/figures/").json()
    assert set(figures) == {"loss", "accuracy", "lr_finder", "confusion", "per_class"}
    assert client.get("/api/jobs/", {"status": "exploded"}).status_code == 400
    assert client.get("/api/jobs/999/").status_code == 404


def test_researcher_launches_cancels_and_clones_over_the_api(
    client, researcher, tiny_dataset, django_capture_on_commit_callbacks
):
    token = Token.objects.create(user=researcher)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/api/jobs/",
            {
                "library": "fastai",
                "architecture": "small-cnn",
                "dataset": "tiny",
                "epochs1": 1,
                "epochs2": 1,
            },
            content_type="application/json",
            **auth,
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["lr2_low"] == 5e-6 and created["status"] == "queued"
    assert created["launched_by"] == "rita"
    with django_capture_on_commit_callbacks(execute=False):
        clone = client.post(f"/api/jobs/{created['id']}/clone/", **auth)
    assert clone.status_code == 201 and clone.json()["id"] != created["id"]
    cancelled = client.post(f"/api/jobs/{created['id']}/cancel/", **auth).json()
    assert cancelled["status"] == "cancelled" and cancelled["outcome"] == "cancelled"
    again = client.post(f"/api/jobs/{created['id']}/cancel/", **auth)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"lr1": -1}, "lr1"),
        ({"epochs1": 0}, "epochs1"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 7}, "image_size"),
        ({"architecture": "alexnet"}, "architecture"),
        ({"dataset": "missing"}, "dataset"),
        ({"beta2": 2}, "beta2"),
        ({"library": "caffe"}, "library"),
    ],
)
def test_api_launch_validates_every_field(client, researcher, tiny_dataset, changes, field):
    client.force_login(researcher)
    data = {"library": "fastai", "architecture": "small-cnn", "dataset": "tiny", **changes}
    response = client.post("/api/jobs/", data, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not TrainingJob.objects.exists()


def test_launch_form_fills_presets_validates_and_queues(
    client, researcher, tiny_dataset, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    page = client.get("/experiments/runs/new/?library=fastai").content.decode()
    assert 'name="lr2_high" value="0.0005"' in page and 'name="epochs1" value="15"' in page
    form = {
        "library": "keras",
        "architecture": "small-cnn",
        "dataset": "tiny",
        "image_size": "7",
        "batch_size": "0",
        "augmentation": "on",
        "weight_decay": "0.01",
        "beta1": "0.9",
        "beta2": "0.999",
        "lr1": "-3",
        "lr2_low": "3e-5",
        "lr2_high": "3e-5",
        "epochs1": "0",
        "epochs2": "1",
        "pretrained": "random",
        "seed": "1",
        "keras_backend": "tensorflow",
    }
    html = client.post("/experiments/runs/new/", form).content.decode()
    assert "Some settings need fixing" in html
    for message in [
        "Image size must be between",
        "Batch size must be between",
        "Learning rates must be above 0",
        "Epochs must be between",
    ]:
        assert message in html
    assert not TrainingJob.objects.exists()
    form.update({"image_size": "32", "batch_size": "8", "lr1": "0.003", "epochs1": "1"})
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/experiments/runs/new/", form)
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/experiments/runs/{job.pk}/"
    assert (job.library, job.image_size, job.pretrained, job.launched_by) == (
        "keras",
        32,
        False,
        researcher,
    )


def test_reproduce_queues_the_twelve_thesis_runs(
    client, researcher, tiny_dataset, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/experiments/reproduce/",
            {
                "dataset": "tiny",
                "epoch_scale": "0.02",
                "image_size": "64",
                "pretrained": "random",
                "seed": "3",
            },
        )
    assert response.status_code == 302
    jobs = TrainingJob.objects.all()
    assert jobs.count() == 12
    assert {(j.library, j.architecture) for j in jobs} == {
        (lib, arch)
        for lib in ("keras", "fastai")
        for arch in ("vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169")
    }
    keras = jobs.filter(library="keras").first()
    fastai = jobs.filter(library="fastai").first()
    assert (keras.epochs1, keras.epochs2, keras.lr2_low) == (1, 2, 3e-5)
    assert (fastai.epochs1, fastai.epochs2, fastai.lr2_high) == (1, 1, 5e-4)
    bad = client.post(
        "/experiments/reproduce/",
        {
            "dataset": "tiny",
            "epoch_scale": "0",
            "image_size": "64",
            "pretrained": "random",
            "seed": "3",
        },
    )
    assert bad.status_code == 200 and TrainingJob.objects.count() == 12


def test_bad_actions_get_clear_messages(client, researcher, tiny_dataset):
    client.force_login(researcher)
    done = make_job(tiny_dataset)
    response = client.post(f"/experiments/runs/{done.pk}/cancel/", follow=True)
    assert "already succeeded; nothing to cancel" in response.content.decode()
    assert client.get("/experiments/runs/99999/").status_code == 404
    assert client.get("/experiments/runs/new/?clone=99999").status_code == 404
    html = client.get("/experiments/compare/").content.decode()
    assert "Choose at least one run" in html
    assert client.get("/experiments/compare/?format=csv").status_code == 400
    html = client.get("/experiments/compare/?ids=abc,99999").content.decode()
    assert "Unknown run numbers ignored" in html and "99999" in html
    tiny_dataset.delete()
    done.refresh_from_db()
    html = client.get(f"/experiments/runs/new/?clone={done.pk}").content.decode()
    assert "which has been deleted" in html
    assert client.post(f"/api/jobs/{done.pk}/clone/").status_code == 409


def test_compare_and_csv(client, tiny_dataset):
    a = make_job(tiny_dataset, seed=1)
    b = make_job(tiny_dataset, seed=2, library="keras")
    html = client.get(f"/experiments/compare/?runs={a.pk}&runs={b.pk}").content.decode()
    assert "compare-figures" in html and "mean ± std" in html
    response = client.get(f"/experiments/compare/?ids={a.pk},{b.pk}&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(r["id"]) for r in rows] == [a.pk, b.pk]
    table = client.get("/experiments/table-4-2/?format=csv").content.decode()
    assert "resnet50" in table and "9.474" in table


@pytest.mark.parametrize(
    "url",
    [
        "/experiments/runs/{job}/",
        "/experiments/",
        "/experiments/compare/?ids={ids}",
        "/experiments/table-4-2/",
        "/experiments/runs/{job}/live/",
    ],
)
def test_pages_stay_within_ten_queries(
    client, researcher, tiny_dataset, url, django_assert_max_num_queries
):
    jobs = [make_job(tiny_dataset, seed=s) for s in range(12)]
    client.force_login(researcher)
    url = url.format(job=jobs[0].pk, ids=",".join(str(j.pk) for j in jobs))
    with django_assert_max_num_queries(10):
        assert client.get(url).status_code == 200


def test_table_4_2_prints_times_like_the_thesis(client, tiny_dataset):
    make_job(tiny_dataset, architecture="vgg16", phase_seconds={"1": 61.4, "2": 3725})
    html = client.get("/experiments/table-4-2/").content.decode()
    assert "00:23:49" in html  # fastai VGG16, phase 2, as published
    assert "00:01:01" in html and "01:02:05" in html  # the run's own times
