"""An S3 store that goes away: a worker's write waits for it to come back (its address
refuses connections, then reaches the real SeaweedFS again), gives up with a plain reason past
JOB_STORE_OUTAGE_SECONDS, and the web answers 503 with Retry-After meanwhile, never a 500."""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import pytest
from django.test import Client

from config.settings import storages_for
from experiments import storage as stores
from tests.conftest import wait_for
from tests.storage.conftest import ACCESS_KEY, SECRET_KEY, _free_port, s3_client
from workers.dbretry import StoreUnavailable, with_store_retry
from workers.training.failures import describe


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("S3_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", SECRET_KEY)


def unreachable_store(settings, bucket: str = "gone") -> str:
    """Storages on an S3 endpoint where nothing listens (a stopped store)."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    settings.STORAGES = {**settings.STORAGES, **storages_for(endpoint, bucket)}
    return endpoint


class Forwarder:
    """The store's address coming back: a TCP forwarder on `port` to the running SeaweedFS
    (nothing listens on `port` before start(), as when the store is down)."""

    def __init__(self, port: int, upstream: tuple[str, int]):
        self.port, self.upstream = port, upstream
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def start(self) -> None:
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_a_write_waits_for_the_store_to_come_back(seaweed, settings, tmp_path, caplog):
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3_client(seaweed).create_bucket(Bucket=bucket)
    store_port = _free_port()  # the store's address, down for now
    forwarder = Forwarder(store_port, ("127.0.0.1", int(seaweed.rsplit(":", 1)[1])))
    settings.STORAGES = {
        **settings.STORAGES,
        **storages_for(f"http://127.0.0.1:{store_port}", bucket),
    }
    settings.JOB_STORE_OUTAGE_SECONDS = 600
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights" * 1000)
    caplog.set_level(logging.WARNING, logger="workers.dbretry")
    result: dict = {}

    def store() -> None:
        try:
            result["key"] = with_store_retry(
                lambda: stores.put_file(stores.artifacts(), "jobs/1-x/model.pkl", model),
                "storing the model",
            )
        except Exception as exc:  # the assertion below shows it
            result["error"] = exc

    writer = threading.Thread(target=store)
    writer.start()
    wait_for(lambda: "file store unreachable" in caplog.text, 120, message="a retry")
    assert writer.is_alive() and not result
    forwarder.start()
    try:
        writer.join(timeout=300)
        assert result == {"key": "jobs/1-x/model.pkl"}, result
        stored = s3_client(seaweed).get_object(Bucket=bucket, Key="jobs/1-x/model.pkl")
        assert stored["Body"].read() == model.read_bytes()
    finally:
        forwarder.close()


def test_past_its_patience_the_job_fails_with_a_plain_reason(settings, tmp_path):
    unreachable_store(settings)
    settings.JOB_STORE_OUTAGE_SECONDS = 1
    target = tmp_path / "image.png"
    with pytest.raises(StoreUnavailable) as caught:
        with_store_retry(
            lambda: stores.fetch_file(stores.datasets(), "datasets/ab/abc", target),
            "fetching the dataset",
        )
    reason = describe(caught.value).reason
    assert reason.startswith("File store unreachable while fetching the dataset")
    assert "JOB_STORE_OUTAGE_SECONDS" in reason and not target.exists()


def test_a_missing_file_is_not_an_outage(s3, settings, tmp_path):
    settings.JOB_STORE_OUTAGE_SECONDS = 600  # would hang the test if it were retried
    with pytest.raises(FileNotFoundError):
        with_store_retry(
            lambda: stores.fetch_file(stores.datasets(), "datasets/no/such", tmp_path / "x"),
            "fetching the dataset",
        )


def test_the_web_answers_503_while_the_store_is_down(researcher, tiny_dataset, settings):
    from tests.conftest import make_job

    job = make_job(tiny_dataset)
    job.evaluation = {**job.evaluation, "model_file": f"jobs/{job.pk}-x/model.pkl"}
    job.save(update_fields=["evaluation"])
    unreachable_store(settings)
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    page = client.get(f"/experiments/runs/{job.pk}/download/model/")
    assert page.status_code == 503 and int(page["Retry-After"]) > 0
    assert "file store" in page.content.decode()
    api = client.get(f"/experiments/runs/{job.pk}/download/model/", HTTP_ACCEPT="application/json")
    assert api.status_code == 503 and "file store" in api.json()["detail"]
