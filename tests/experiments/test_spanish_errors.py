"""Study-grid and pairing errors come back in the visitor's language (English or Spanish)."""

import pytest
from django.utils import translation

from experiments.models import Study, TrainingJob
from experiments.research.studies import StudyRejected, expand
from tests.conftest import make_job

from .test_studies import grid

pytestmark = pytest.mark.django_db


def post_grid(client, language, **changes):
    return client.post(
        "/api/studies/",
        grid(**changes),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=language,
    )


@pytest.mark.parametrize(
    "changes,field,english,spanish",
    [
        (
            {"libraries": []},
            "libraries",
            "Must be a non-empty list.",
            "Debe ser una lista no vacía.",
        ),
        (
            {"libraries": ["caffe"]},
            "libraries",
            "Unknown library 'caffe': choose keras and/or fastai.",
            "Librería desconocida 'caffe': elige keras, fastai o ambas.",
        ),
        (
            {"libraries": ["fastai"], "fair_mode": [True]},  # fair mode has no fastai cell
            "grid",
            "The grid has no job.",
            "La rejilla no tiene ningún trabajo.",
        ),
        (
            {"seeds": list(range(50)), "lr1": [1e-3, 2e-3, 3e-3]},  # 2 x 3 x 50 = 300 jobs
            "grid",
            "300 jobs; a study may have at most 240.",
            "300 trabajos; un estudio puede tener como mucho 240.",
        ),
        (
            {"architectures": ["alexnet"]},
            "architectures",
            "'alexnet' is not available in keras and fastai.",
            "'alexnet' no está disponible en keras y fastai.",
        ),
    ],
)
def test_the_study_api_refuses_a_grid_in_the_visitors_language(
    client, researcher, tiny_dataset, changes, field, english, spanish
):
    client.force_login(researcher)
    in_spanish = post_grid(client, "es", **changes)
    assert in_spanish.status_code == 400, in_spanish.content
    assert in_spanish.json()[field] == [spanish]
    in_english = post_grid(client, "en", **changes)
    assert in_english.status_code == 400
    assert in_english.json()[field] == [english]
    assert not Study.objects.exists() and not TrainingJob.objects.exists()


def test_a_job_setting_refused_inside_the_grid_is_in_spanish_too(client, researcher, tiny_dataset):
    client.force_login(researcher)
    errors = post_grid(client, "es", epochs=[[0, 1]]).json()
    assert errors["keras · Small CNN · 0+1 epochs: epochs1"] == [
        "Las épocas deben estar entre 1 y 1000."
    ]


def test_the_study_form_shows_grid_errors_in_spanish(client, researcher, tiny_dataset):
    client.force_login(researcher)
    form = {
        "dataset": "tiny",
        "libraries": ["keras"],
        "architectures": ["small-cnn"],
        "seeds": str(2**31),
        "fair_mode": "off",
        "image_size": "32",
        "batch_size": "8",
        "pretrained": "random",
    }
    spanish = client.post("/experiments/studies/new/", form, HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.status_code == 200
    text = spanish.content.decode()
    assert "Las semillas deben ser números enteros de 0 a 2^31 - 1." in text
    assert "Seeds must be whole numbers" not in text
    english = client.post("/experiments/studies/new/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert "Seeds must be whole numbers from 0 to 2^31 - 1." in english.content.decode()
    assert not Study.objects.exists()


def test_expand_uses_the_active_language(tiny_dataset):
    with translation.override("es"), pytest.raises(StudyRejected) as refused:
        expand({**grid(), "base": {"epoch_scale": 2}, "seeds": list(range(51))})
    assert refused.value.errors == {
        "seeds": "Como mucho 50 semillas.",
        "base": "epoch_scale debe ser mayor que 0 y como mucho 1.",
    }
    with translation.override("es"), pytest.raises(StudyRejected) as refused:
        expand("not a grid")
    assert refused.value.errors == {"grid": "Debe ser un objeto."}


def test_pairing_errors_follow_the_visitors_language(client, tiny_dataset):
    done = make_job(tiny_dataset)
    running = make_job(tiny_dataset, status="running")
    url = f"/api/compare/paired/?a={done.pk}&b={running.pk}"
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.status_code == 400
    assert (
        spanish.json()["detail"]
        == f"La ejecución #{running.pk} no ha terminado con éxito (en curso)."
    )
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").json()["detail"]
    assert english == f"Run #{running.pk} has not succeeded (running)."
    same = client.get(f"/api/compare/paired/?a={done.pk}&b={done.pk}", HTTP_ACCEPT_LANGUAGE="es")
    assert same.json()["detail"] == "Elige dos ejecuciones distintas."


@pytest.mark.parametrize(
    "data,english,spanish",
    [
        (b"", "The file is empty (0 bytes).", "El archivo está vacío (0 bytes)."),
        (b"not a picture" * 20, "not an image PIL can read", "no es una imagen que PIL sepa leer"),
    ],
)
def test_bad_image_uploads_are_refused_in_the_visitors_language(
    client, researcher, tiny_dataset, data, english, spanish
):
    from .test_uploads import upload

    job = make_job(tiny_dataset, evaluation={"accuracy": 0.5, "model_file": "jobs/1/model.pkl"})
    client.force_login(researcher)
    for language, expected in (("en", english), ("es", spanish)):
        response = client.post(
            f"/api/jobs/{job.pk}/predict/", {"image": upload(data)}, HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 400
        assert expected in response.json()["image"][0]
