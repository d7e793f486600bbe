"""Issue 19: the import pages in the visitor's language, `<class>` shown as text, and an existing
dataset name refused by the form (or replaced when asked)."""

import pytest
from django.utils import translation

from experiments.datasets.importer import BAD_NAME, OUTSIDE_ROOT
from experiments.reasons import step_label, translate_reason
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """Requests in Spanish leave Spanish active in this thread; later tests expect English."""
    yield
    translation.activate("en")


@pytest.mark.parametrize(
    "english, spanish",
    [
        (OUTSIDE_ROOT, "enlace simbólico que apunta fuera de la raíz de datos (no se sigue)"),
        (BAD_NAME, "el nombre del archivo no es UTF-8 válido (o es demasiado largo); renómbralo"),
        ("empty file", "archivo vacío"),
        (
            "too large: 9000x9000 px is over the 50,000,000 px limit (IMPORT_MAX_PIXELS)",
            "demasiado grande: 9000x9000 px supera el límite de 50,000,000 px (IMPORT_MAX_PIXELS)",
        ),
        (
            "/data/x contains no usable files (3 skipped: empty file...).",
            "/data/x no contiene archivos utilizables (3 omitidos: archivo vacío...).",
        ),
        ("/data/x is not a folder.", "/data/x no es una carpeta."),
        ("ValueError: something new", "ValueError: something new"),  # unknown: unchanged
    ],
)
def test_import_reasons_in_spanish(english, spanish):
    with translation.override("es"):
        assert translate_reason(english) == spanish
    with translation.override("en"):
        assert translate_reason(english) == english


def test_cleaning_steps_in_spanish():
    with translation.override("es"):
        assert step_label("cross-class duplicates removed") == "duplicados entre clases eliminados"
        assert step_label("found") == "encontradas"


def test_import_form_escapes_class_and_refuses_an_existing_name(client, researcher, tiny_dataset):
    client.force_login(researcher)
    page = client.get("/experiments/datasets/import/").content.decode()
    assert "Train/&lt;class&gt;/" in page

    data = {"path": tiny_dataset.root, "name": "tiny", "preset": "default"}
    refused = client.post("/experiments/datasets/import/", data, HTTP_ACCEPT_LANGUAGE="es")
    assert refused.status_code == 200
    assert "Ya existe un conjunto de datos llamado «tiny»" in refused.content.decode()
    replaced = client.post("/experiments/datasets/import/", {**data, "replace": "on"})
    assert replaced.status_code == 302

    make_job(tiny_dataset)
    used = client.post("/experiments/datasets/import/", {**data, "replace": "on"})
    assert "cannot be replaced" in used.content.decode()


def test_worker_warning_and_backend_reason_in_spanish(client, researcher, tiny_dataset):
    from django.utils import timezone

    from experiments.models import WorkerHeartbeat
    from workers.heartbeat import gpu_warning

    client.force_login(researcher)
    WorkerHeartbeat.objects.create(
        hostname="w1",
        queues=["gpu"],
        warning=gpu_warning(["gpu"], ("", None)),
        last_seen=timezone.now(),
    )
    page = client.get("/experiments/workers/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "no ve ninguna GPU" in page
    job = make_job(
        tiny_dataset,
        library="keras",
        manifest={
            "keras_backend": "torch",
            "keras_backend_reason": "auto: no GPU and no TensorFlow, torch on the CPU",
        },
    )
    page = client.get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "torch (auto: sin GPU ni TensorFlow, torch en la CPU)" in page
