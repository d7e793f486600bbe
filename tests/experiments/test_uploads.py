"""Bad uploads get a clear 4xx message; zip datasets never extract outside their folder."""

import io
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from experiments.datasets.uploads import UploadRefused, extract_dataset_zip, read_image_upload
from experiments.models import ImagePrediction
from tests.conftest import make_job


def png_bytes(size=(32, 32), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def upload(data: bytes, name="x.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


@pytest.fixture
def trained_job(tiny_dataset, settings):
    """A succeeded job whose model file exists (nothing is run: uploads are refused first)."""
    job = make_job(tiny_dataset, evaluation={"accuracy": 0.5, "model_file": "jobs/1/model.pkl"})
    return job


def bomb_png(settings) -> bytes:
    settings.UPLOAD_MAX_IMAGE_PIXELS = 1_000_000
    out = io.BytesIO()
    Image.new("1", (4000, 4000)).save(out, format="PNG")  # 16 Mpx, a few KB compressed
    return out.getvalue()


@pytest.mark.parametrize(
    "case,message",
    [
        ("empty", "empty (0 bytes)"),
        ("text", "not an image"),
        ("truncated", "damaged or truncated"),
        ("too_large", "the limit is"),
        ("bomb", "decompression bomb"),
    ],
)
def test_bad_images_are_refused_by_the_predict_api(
    client, researcher, trained_job, settings, case, message
):
    data = {
        "empty": b"",
        "text": b"hello, I am not a picture" * 10,
        "truncated": png_bytes((64, 64))[:120],
        "too_large": png_bytes((64, 64)),
        "bomb": bomb_png(settings) if case == "bomb" else b"",
    }[case]
    if case == "too_large":
        settings.PREDICT_UPLOAD_MAX_BYTES = 100
    client.force_login(researcher)
    response = client.post(f"/api/jobs/{trained_job.pk}/predict/", {"image": upload(data)})
    assert response.status_code == 400, response.content
    assert message in str(response.json()), response.json()
    assert not ImagePrediction.objects.exists()


def test_predict_api_refuses_other_bad_requests(client, researcher, visitor, trained_job):
    url = f"/api/jobs/{trained_job.pk}/predict/"
    assert client.post(url, {"image": upload(png_bytes())}).status_code in (401, 403)
    client.force_login(visitor)
    assert client.post(url, {"image": upload(png_bytes())}).status_code == 403
    client.force_login(researcher)
    assert client.post(url, {}).status_code == 400
    assert client.post(url, {"path": "../../etc/passwd"}).status_code == 400
    assert client.post("/api/jobs/999999/predict/", {"path": "x"}).status_code == 404
    unfinished = make_job(trained_job.dataset, status="running")
    response = client.post(f"/api/jobs/{unfinished.pk}/predict/", {"image": upload(png_bytes())})
    assert response.status_code == 409 and "no trained model" in response.json()["detail"]
    assert client.get("/api/image-predictions/999999/").status_code == 404
    assert not ImagePrediction.objects.exists()


def test_a_good_upload_is_queued_as_png(
    client, researcher, visitor, trained_job, settings, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            f"/api/jobs/{trained_job.pk}/predict/", {"image": upload(png_bytes(), "mole.jpg")}
        )
    assert response.status_code == 202 and len(callbacks) == 1
    state = client.get(response.json()["url"]).json()
    assert state["status"] == "queued" and state["source"] == "mole.jpg"
    image = client.get(state["image_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    client.force_login(visitor)  # not a researcher: neither the answer nor the image
    assert client.get(response.json()["url"]).status_code == 403
    assert client.get(state["image_url"]).status_code == 403


def test_read_image_upload_returns_rgb():
    image = read_image_upload(upload(png_bytes((10, 7))))
    assert image.mode == "RGB" and image.size == (10, 7)
    with pytest.raises(UploadRefused):
        read_image_upload(upload(b"GIF89a" + b"\x00" * 20))


# ------------------------------------------------------------------ zip datasets


def make_zip(members: dict, links: dict | None = None) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    out.seek(0)
    return out


def test_zip_members_that_escape_or_are_not_images_are_skipped_and_listed(tmp_path):
    nested = make_zip({"inner/a.png": png_bytes()}).getvalue()
    archive = make_zip(
        {
            "Train/a/1.png": png_bytes(),
            "Train/b/2.png": png_bytes(color=(0, 0, 255)),
            "../evil.png": png_bytes(),
            "/abs.png": png_bytes(),
            "Train/a/../../../up.png": png_bytes(),
            "C:/windows.png": png_bytes(),
            "Train/a/readme.txt": b"hello",
            "Train/a/more.zip": nested,
            "Train/a/broken.png": b"\x89PNG\r\n\x1a\nbroken",
        },
        links={"Train/a/link.png": "/etc/passwd"},
    )
    target = tmp_path / "data" / "upload"
    report = extract_dataset_zip(archive, target)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["Train/a/1.png", "Train/b/2.png"]
    assert report.extracted == 2
    reasons = {item["member"]: item["reason"] for item in report.skipped}
    assert reasons == {
        "../evil.png": "path outside the dataset folder",
        "/abs.png": "path outside the dataset folder",
        "Train/a/../../../up.png": "path outside the dataset folder",
        "C:/windows.png": "path outside the dataset folder",
        "Train/a/readme.txt": "not an image",
        "Train/a/more.zip": "nested archive",
        "Train/a/broken.png": "not a readable image",
        "Train/a/link.png": "symbolic link",
    }
    assert not (tmp_path / "data" / "evil.png").exists() and not (tmp_path / "up.png").exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))


def test_zips_that_are_bombs_or_not_zips_are_refused_and_leave_nothing(tmp_path, settings):
    with pytest.raises(UploadRefused, match="not a zip"):
        extract_dataset_zip(io.BytesIO(b"PK\x03\x04 nope"), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    settings.DATASET_UPLOAD_MAX_EXTRACTED_BYTES = 1_000_000
    bomb = make_zip({"Train/a/zeros.png": b"\0" * 5_000_000})
    with pytest.raises(UploadRefused, match="expands to"):
        extract_dataset_zip(bomb, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    ratio = make_zip({"Train/a/1.png": png_bytes(), "Train/a/flat.png": b"\0" * 900_000})
    report = extract_dataset_zip(ratio, tmp_path / "c")
    assert {"member": "Train/a/flat.png", "reason": "suspicious compression ratio"} in (
        report.skipped
    )
    with pytest.raises(UploadRefused, match="no readable image"):
        extract_dataset_zip(make_zip({"notes.txt": b"x"}), tmp_path / "d")
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------ imports in the background


def digits_zip(per_class=6) -> io.BytesIO:
    members = {}
    for label, color in (("a", (250, 0, 0)), ("b", (0, 0, 250))):
        for i in range(per_class):
            split = "Test" if i < 2 else "Train"
            members[f"{split}/{label}/{i}.png"] = png_bytes(color=(color[0], i * 20, color[2]))
    members["../../escape.png"] = png_bytes()
    members["Train/a/notes.txt"] = b"not an image"
    return make_zip(members)


@pytest.fixture
def upload_root(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path / "data"]
    settings.DATASET_UPLOAD_ROOT = tmp_path / "data" / "uploads"
    return settings.DATASET_UPLOAD_ROOT


def test_a_zip_uploaded_from_the_browser_is_imported_in_the_background(
    client, researcher, upload_root, django_capture_on_commit_callbacks
):
    from experiments.datasets.imports import run_import
    from experiments.models import Dataset, DatasetImport

    client.force_login(researcher)
    archive = SimpleUploadedFile("skin.zip", digits_zip().getvalue(), "application/zip")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/experiments/datasets/upload/",
            {"archive": archive, "name": "skin", "preset": "default"},
        )
    record = DatasetImport.objects.get()
    assert response.status_code == 302 and response["Location"] == record.get_absolute_url()
    assert len(callbacks) == 1 and record.status == "queued"  # the request returned at once
    assert not Dataset.objects.exists()

    assert run_import(record.pk) == "succeeded"  # what the default-queue task runs
    record.refresh_from_db()
    dataset = Dataset.objects.get(name="skin")
    assert record.dataset == dataset and record.done == record.total == 12
    assert Path(dataset.root).is_relative_to(upload_root)
    assert dataset.images.count() == 12 and set(dataset.classes) == {"a", "b"}
    assert not (upload_root / ".incoming").exists() or not any(
        (upload_root / ".incoming").iterdir()
    )
    page = client.get(record.get_absolute_url()).content.decode()
    assert "../../escape.png" in page and "path outside the dataset folder" in page
    assert "notes.txt" in page and "not an image" in page
    state = client.get(record.get_absolute_url() + "?format=json").json()
    assert state["status"] == "succeeded" and state["dataset_url"] == dataset.get_absolute_url()


def test_bad_zip_uploads_get_a_message(client, researcher, upload_root, settings):
    from experiments.datasets.imports import run_import
    from experiments.models import DatasetImport

    client.force_login(researcher)
    not_zip = SimpleUploadedFile("skin.zip", b"definitely not a zip", "application/zip")
    response = client.post(
        "/experiments/datasets/upload/", {"archive": not_zip, "name": "skin", "preset": "default"}
    )
    record = DatasetImport.objects.get()
    assert run_import(record.pk) == "failed"
    record.refresh_from_db()
    assert "not a zip archive" in record.error
    page = client.get(record.get_absolute_url()).content.decode()
    assert "not a zip archive" in page
    assert not Path(record.path).exists()

    wrong_type = SimpleUploadedFile("skin.tar", b"x", "application/x-tar")
    response = client.post(
        "/experiments/datasets/upload/", {"archive": wrong_type, "name": "t", "preset": "default"}
    )
    assert response.status_code == 200 and "Upload a .zip file." in response.content.decode()
    settings.DATASET_UPLOAD_MAX_BYTES = 10
    big = SimpleUploadedFile("big.zip", b"x" * 100, "application/zip")
    response = client.post(
        "/experiments/datasets/upload/", {"archive": big, "name": "big", "preset": "default"}
    )
    assert response.status_code == 200 and "the limit is" in response.content.decode()
    assert DatasetImport.objects.count() == 1


def test_folder_imports_also_run_in_the_background(
    client, researcher, upload_root, django_capture_on_commit_callbacks
):
    from experiments.datasets.demo import write_digits
    from experiments.datasets.imports import run_import
    from experiments.models import DatasetImport

    folder = upload_root.parent / "digits"
    write_digits(folder, per_class=5, size=16, classes=2)
    client.force_login(researcher)
    outside = client.post(
        "/experiments/datasets/import/", {"path": "/etc", "name": "etc", "preset": "default"}
    )
    assert (
        outside.status_code == 200 and "outside the allowed data roots" in outside.content.decode()
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/experiments/datasets/import/",
            {"path": str(folder), "name": "digits", "preset": "default"},
        )
    record = DatasetImport.objects.get()
    assert response.status_code == 302 and len(callbacks) == 1
    assert run_import(record.pk) == "succeeded"
    record.refresh_from_db()
    assert record.done == record.total == 10 and record.dataset.name == "digits"
    assert run_import(record.pk) == "skipped"  # a message delivered twice imports once


# ------------------------------------------------------------------ one bad member, not the archive


def _corrupt(archive: io.BytesIO, name: str) -> io.BytesIO:
    """Flip a byte in the middle of the member's stored data (its CRC no longer matches)."""
    data = bytearray(archive.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name)
    header = 30 + len(info.filename.encode()) + len(info.extra)
    data[info.header_offset + header + info.compress_size // 2] ^= 0xFF
    return io.BytesIO(bytes(data))


def _bad_utf8_name(archive: io.BytesIO, name: str) -> io.BytesIO:
    """The member keeps its UTF-8 flag but its name bytes are not UTF-8 (as some tools write)."""
    encoded = name.encode("utf-8")
    broken = encoded.replace("éé".encode(), b"\xff\xfe\xff\xfe")
    return io.BytesIO(archive.getvalue().replace(encoded, broken))


BAD_MEMBER_CLASSES = {
    # class: (members, links, how to damage the archive, member listed, reason)
    "bad CRC (stored)": ({"Train/a/crc.png": png_bytes()}, {}, "crc", "Train/a/crc.png",
                         "damaged data (checksum or compression error)"),
    "corrupt deflate": ({"Train/a/zlib.png": png_bytes(size=(64, 64))}, {}, "crc",
                        "Train/a/zlib.png", "damaged data (checksum or compression error)"),
    "name over 255 bytes": ({"Train/a/" + "n" * 300 + ".png": png_bytes()}, {}, None,
                            "Train/a/" + "n" * 300 + ".png",
                            "a name in its path is longer than 255 bytes"),
    "file, then folder": ({"Train/c/x.png": png_bytes(), "Train/c/x.png/y.png": png_bytes()}, {},
                          None, "Train/c/x.png/y.png",
                          "a file and a folder of the archive have the same name"),
    "folder, then file": ({"Train/d/z.png/y.png": png_bytes(), "Train/d/z.png": png_bytes()}, {},
                          None, "Train/d/z.png",
                          "a file and a folder of the archive have the same name"),
    "self-referencing link": ({}, {"Train/a/loop/": "."}, None, "Train/a/loop/", "symbolic link"),
    "non-UTF-8 name": ({"Train/a/éé.png": png_bytes()}, {}, "utf8", None,
                       "its name is not valid UTF-8"),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(BAD_MEMBER_CLASSES))
def test_one_bad_member_is_skipped_and_listed_and_the_rest_imported(tmp_path, kind):
    members, links, damage, listed, reason = BAD_MEMBER_CLASSES[kind]
    good = {"Train/g/1.png": png_bytes(), "Train/h/2.png": png_bytes(color=(0, 0, 255))}
    compression = zipfile.ZIP_STORED if kind == "bad CRC (stored)" else zipfile.ZIP_DEFLATED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in {**good, **members}.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    out.seek(0)
    if damage == "crc":
        out = _corrupt(out, next(iter(members)))
    elif damage == "utf8":
        out = _bad_utf8_name(out, next(iter(members)))
    target = tmp_path / "set"
    report = extract_dataset_zip(out, target)
    assert report.extracted >= 2
    assert (target / "Train/g/1.png").is_file() and (target / "Train/h/2.png").is_file()
    skipped = [item for item in report.skipped if item["reason"] == reason]
    assert len(skipped) == 1, report.skipped
    if listed is not None:
        assert skipped[0]["member"] == listed[:300]
    assert not any(str(tmp_path) in str(item) for item in report.skipped)
    assert not any(p.is_symlink() for p in target.rglob("*"))


def test_an_archive_of_only_bad_members_is_refused_and_leaves_nothing(tmp_path):
    members = {"Train/a/crc.png": png_bytes(), "Train/a/" + "n" * 300 + ".png": png_bytes()}
    archive = _corrupt(make_zip(members | {"a.txt": b"x"}), "Train/a/crc.png")
    with pytest.raises(UploadRefused, match="no readable image") as refused:
        extract_dataset_zip(archive, tmp_path / "set")
    assert str(tmp_path) not in str(refused.value)
    assert not (tmp_path / "set").exists()


def test_the_size_message_never_reads_n_mb_over_a_limit_of_n_mb(tmp_path, settings):
    from experiments.datasets.uploads import size_against_limit

    for size, limit in [(4 * 2**30 + 1, 4 * 2**30), (4 * 2**30 + 2**19, 4 * 2**30), (11, 10)]:
        shown_size, shown_limit = size_against_limit(size, limit)
        assert shown_size != shown_limit
    settings.DATASET_UPLOAD_MAX_EXTRACTED_BYTES = 1_000_000
    bomb = make_zip({"Train/a/zeros.png": b"\0" * 1_000_001})
    with pytest.raises(UploadRefused) as refused:
        extract_dataset_zip(bomb, tmp_path / "b")
    assert "1,000,001 bytes" in str(refused.value) and "1,000,000 bytes" in str(refused.value)
