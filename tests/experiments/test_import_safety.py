"""Import and image serving stay inside the data roots; bad files are skipped, not fatal;
datasets that cannot be trained are refused with the reason."""

import os
from pathlib import Path

import pytest
from PIL import Image

from experiments.datasets.importer import ImportOptions, ImportRefused, import_dataset
from experiments.models import Dataset, DatasetImage

pytestmark = pytest.mark.django_db


def _image(path: Path, color=(10, 20, 30), size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).save(path)


def _classes(root: Path, counts: dict[str, int]) -> None:
    for n, (label, count) in enumerate(counts.items()):
        for i in range(count):
            _image(root / label / f"{i:03d}.png", (n * 40, i * 7 % 256, 99))


@pytest.fixture
def root(tmp_path, settings):
    base = tmp_path / "root"
    base.mkdir()
    settings.DATA_ROOTS = [base]
    return base


def test_links_out_of_the_root_are_skipped_and_listed(root, tmp_path, client):
    _classes(root / "ds", {"a": 6, "b": 6})
    outside = tmp_path / "outside"
    _classes(outside, {"secret": 3})
    os.symlink(outside / "secret", root / "ds" / "c")  # a whole class folder
    os.symlink("/etc/passwd", root / "ds" / "a" / "passwd.png")  # one file
    result = import_dataset(root / "ds", "ds", ImportOptions(test_fraction=0.25))
    skipped = {s["path"]: s["reason"] for s in result.report["skipped"]}
    assert "outside the data root" in skipped["c"]
    assert "outside the data root" in skipped["a/passwd.png"]
    assert result.dataset.classes == ["a", "b"]
    assert not DatasetImage.objects.filter(path__contains="passwd").exists()
    assert not DatasetImage.objects.filter(label="secret").exists()

    # Serving: the stored copy of the image, so a recorded file later replaced by a link to
    # /etc/passwd changes nothing.
    image = DatasetImage.objects.filter(dataset=result.dataset).first()
    good = client.get(f"/experiments/datasets/ds/image/?path={image.path}")
    assert good.status_code == 200
    target = root / "ds" / image.path
    stored = target.read_bytes()
    target.unlink()
    os.symlink("/etc/passwd", target)
    response = client.get(f"/experiments/datasets/ds/image/?path={image.path}")
    assert response.status_code == 200
    served = b"".join(response.streaming_content)
    assert served == stored and b"root:" not in served


def test_bombs_huge_images_bad_names_and_unreadable_files_are_skipped(root, settings):
    _classes(root / "ds", {"a": 6, "b": 6})
    # 419 Mpx of zeros: a few kB of PNG that would take 400 MB to decode.
    Image.new("1", (20480, 20480)).save(root / "ds" / "a" / "bomb.png")
    _image(root / "ds" / "b" / "big.png", size=300)
    settings.IMPORT_MAX_PIXELS = 200 * 200
    bad_name = os.path.join(os.fsencode(root / "ds" / "a"), b"caf\xe9-\xff.png")
    with open(bad_name, "wb") as handle:
        handle.write((root / "ds" / "a" / "000.png").read_bytes() + b"x")
    unreadable = root / "ds" / "b" / "locked.png"
    unreadable.mkdir()  # a folder named like an image is not a file: ignored, no crash
    result = import_dataset(root / "ds", "ds", ImportOptions(test_fraction=0.25))
    skipped = {s["path"]: s["reason"] for s in result.report["skipped"]}
    assert "bomb" in skipped["a/bomb.png"] or "too large" in skipped["a/bomb.png"]
    assert "too large" in skipped["b/big.png"] and "IMPORT_MAX_PIXELS" in skipped["b/big.png"]
    bad = [path for path, reason in skipped.items() if "not valid UTF-8" in reason]
    assert len(bad) == 1 and bad[0].startswith("a/caf")
    assert DatasetImage.objects.filter(dataset=result.dataset).count() == 12


@pytest.mark.parametrize(
    "layout, message",
    [
        ("no-images", "no usable files"),
        ("text-only", "readable image"),
        ("rare-everything", "No images left"),
        ("empty-test", "test split"),
        ("class-only-in-test", "no training image"),
    ],
)
def test_untrainable_datasets_are_refused_with_the_reason(root, layout, message):
    ds = root / "ds"
    if layout == "no-images":
        (ds / "a").mkdir(parents=True)
    elif layout == "text-only":
        (ds / "a").mkdir(parents=True)
        (ds / "a" / "notes.png").write_text("not an image")
    elif layout == "rare-everything":
        _classes(ds, {"a": 3, "b": 3})
    elif layout == "empty-test":
        _classes(ds / "Train", {"a": 5, "b": 5})
        (ds / "Test" / "a").mkdir(parents=True)
    else:
        _classes(ds / "Train", {"a": 5, "b": 5})
        _classes(ds / "Test", {"a": 2, "b": 2, "c": 2})
    with pytest.raises(ImportRefused) as refused:
        minimum = 5 if layout == "rare-everything" else 0
        import_dataset(ds, "ds", ImportOptions(test_fraction=0.25, min_images_per_class=minimum))
    assert message in str(refused.value)
    assert not Dataset.objects.filter(name="ds").exists()


def test_the_folder_layouts_test_split_is_stratified_per_class(root):
    _classes(root / "ds", {"a": 20, "b": 10, "c": 5})
    result = import_dataset(root / "ds", "ds", ImportOptions(test_fraction=0.2, seed=3))
    assert result.report["per_class_splits"]["test"] == {"a": 4, "b": 2, "c": 1}
    assert all(result.report["per_class_splits"]["train"].values())


def test_make_demo_dataset_works_with_any_data_roots(tmp_path, settings):
    from django.core.management import call_command

    elsewhere = tmp_path / "only-root"
    settings.VAR_DIR = tmp_path / "var"  # var/datasets is not a data root here
    settings.DATA_ROOTS = [elsewhere]
    call_command("make_demo_dataset", "--per-class", "5")
    demo = Dataset.objects.get(name="demo")
    assert Path(demo.root) == (elsewhere / "digits-demo").resolve()
    assert demo.images.count() == 50
