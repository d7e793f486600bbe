"""Dataset import and cleaning (thesis §4.2.1), on the real ISIC data and on planted problems."""

import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from experiments.datasets.importer import PRESETS, ImportOptions, ImportRefused, import_dataset
from experiments.models import Dataset, DatasetImage

pytestmark = pytest.mark.django_db
ISIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "skin-cancer-isic-180"


def test_isic_thesis_preset_reproduces_the_thesis_numbers(capsys):
    assert ISIC.is_dir(), f"the shared ISIC data is expected at {ISIC}"
    call_command(
        "import_dataset", str(ISIC), "--preset", "isic-thesis", "--name", "isic", "--no-progress"
    )
    out = capsys.readouterr().out
    dataset = Dataset.objects.get(name="isic")
    steps = {step["step"]: step for step in dataset.report["steps"]}
    assert steps["found"]["images"] == 2357
    assert steps["cross-class duplicates removed"]["groups"] == 155
    assert steps["cross-class duplicates removed"]["removed"] == 310
    assert steps["cross-class duplicates removed"]["images"] == 2047
    assert set(steps["rare classes dropped"]["classes"]) == {
        "actinic keratosis",
        "seborrheic keratosis",
    }
    assert steps["rare classes dropped"]["images"] == 1992
    assert len(dataset.classes) == 7
    assert dataset.report["splits"] == {"train": 1515, "valid": 378, "test": 99}
    assert DatasetImage.objects.filter(dataset=dataset, split="valid").count() == 378
    assert DatasetImage.objects.filter(dataset=dataset, split="test").count() == 99
    # The two within-class duplicate pairs are reported (the thesis kept both copies).
    assert steps["within-class duplicates"]["groups"] == 2
    for line in [
        "2,357 images found",
        "155 cross-class duplicate groups (310 files) removed",
        "-> 2,047",
        "1,992 images in 7 classes",
        "1,515 train / 378 valid / 99 test",
    ]:
        assert line in out
    first_hash = dataset.manifest_hash

    # Importing again with the same seed gives the same split and manifest.
    call_command(
        "import_dataset", str(ISIC), "--preset", "isic-thesis", "--name", "isic", "--no-progress"
    )
    assert Dataset.objects.get(name="isic").manifest_hash == first_hash


def _image(path: Path, color: tuple[int, int, int], size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).save(path)


@pytest.fixture
def planted(tmp_path, settings):
    """Train/Test layout with planted duplicates, a rare class and broken files."""
    root = tmp_path / "planted"
    settings.DATA_ROOTS = [tmp_path]
    for split, count in (("Train", 10), ("Test", 3)):
        for k, cls in enumerate(["cats", "dogs", "owls"]):
            for i in range(count):
                _image(
                    root / split / cls / f"{cls}{i}.png", (k * 80, i * 20, 5 + (split == "Test"))
                )
        for i in range(2):
            _image(root / split / "rare" / f"rare{i}.png", (250, 250, i + 7 * (split == "Test")))
    # Same bytes under two classes: both copies go.
    shutil.copy(root / "Train/cats/cats0.png", root / "Train/dogs/dup-of-cat.png")
    # Same bytes twice in one class: reported, one copy kept.
    shutil.copy(root / "Train/owls/owls1.png", root / "Train/owls/owls1-copy.png")
    (root / "Train/owls/empty.jpg").write_bytes(b"")
    (root / "Train/owls/notes.jpg").write_text("this is not an image")
    data = (root / "Train/dogs/dogs1.png").read_bytes()
    (root / "Train/dogs/truncated.png").write_bytes(data[: len(data) // 2])
    (root / "Train/dogs/readme.txt").write_text("hello")
    return root


def test_planted_problems_are_cleaned_and_reported(planted):
    result = import_dataset(planted, "planted", ImportOptions(min_images_per_class=5, seed=1))
    report = result.report
    skipped = {item["path"]: item["reason"] for item in report["skipped"]}
    assert set(skipped) == {
        "Train/owls/empty.jpg",
        "Train/owls/notes.jpg",
        "Train/dogs/truncated.png",
        "Train/dogs/readme.txt",
    }
    assert skipped["Train/owls/empty.jpg"] == "empty file"
    assert "truncated" in skipped["Train/dogs/truncated.png"]
    assert report["duplicates"]["cross_class"] == [
        ["Train/cats/cats0.png", "Train/dogs/dup-of-cat.png"]
    ]
    assert report["duplicates"]["within_class"] == [
        ["Train/owls/owls1-copy.png", "Train/owls/owls1.png"]
    ]
    excluded = dict(
        DatasetImage.objects.filter(dataset=result.dataset, split="excluded").values_list(
            "path", "excluded_reason"
        )
    )
    assert excluded["Train/cats/cats0.png"] == DatasetImage.CROSS_CLASS_DUPLICATE
    assert excluded["Train/owls/owls1.png"] == DatasetImage.WITHIN_CLASS_DUPLICATE
    assert "Train/owls/owls1-copy.png" not in excluded  # one copy kept
    assert all(
        reason == DatasetImage.RARE_CLASS for path, reason in excluded.items() if "rare" in path
    )
    assert result.dataset.classes == ["cats", "dogs", "owls"]
    # Train keeps 9 cats + 10 dogs + 10 owls = 29 -> int(20 % of 29) = 5 valid; Test untouched.
    assert report["splits"] == {"train": 24, "valid": 5, "test": 9}


def test_single_folder_layout_uses_a_test_fraction(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path]
    for k, cls in enumerate(["a", "b"]):
        for i in range(20):
            _image(tmp_path / "flat" / cls / f"{i}.png", (k * 100, i * 10, 3))
    result = import_dataset(
        tmp_path / "flat", "flat", ImportOptions(test_fraction=0.25, valid_fraction=0.2)
    )
    assert result.dataset.layout == Dataset.FOLDER
    assert result.report["splits"] == {"train": 24, "valid": 6, "test": 10}


def test_paths_outside_the_data_roots_are_refused(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path / "allowed"]
    (tmp_path / "allowed").mkdir()
    _image(tmp_path / "elsewhere" / "a" / "1.png", (1, 2, 3))
    with pytest.raises(ImportRefused, match="outside the allowed data roots"):
        import_dataset(tmp_path / "elsewhere", "x", PRESETS["default"])
    with pytest.raises(ImportRefused, match="outside the allowed data roots"):
        import_dataset(tmp_path / "allowed" / ".." / "elsewhere", "x", PRESETS["default"])
    with pytest.raises(CommandError, match="outside the allowed data roots"):
        call_command("import_dataset", str(tmp_path / "elsewhere"), "--no-progress")
    assert not Dataset.objects.exists()


def test_a_folder_without_images_is_refused_and_keeps_the_old_import(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path]
    for i in range(4):
        _image(tmp_path / "good" / "a" / f"{i}.png", (i, 2, 3))
    import_dataset(tmp_path / "good", "kept", PRESETS["default"])
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.jpg").write_text("nope")
    with pytest.raises(ImportRefused, match="None of the 1 files"):
        import_dataset(tmp_path / "junk", "kept", PRESETS["default"])
    assert Dataset.objects.get(name="kept").images.count() == 4


def test_import_command_rejects_bad_options(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path]
    with pytest.raises(CommandError, match="valid-fraction"):
        call_command("import_dataset", str(tmp_path), "--valid-fraction", "1.5", "--no-progress")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_dataset", str(tmp_path / "missing"), "--no-progress")


def test_demo_dataset_is_real_images(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DATA_ROOTS = [tmp_path]
    call_command("make_demo_dataset", "--per-class", "10")
    demo = Dataset.objects.get(name="demo")
    assert demo.classes == [str(d) for d in range(10)]
    assert sum(demo.report["splits"].values()) == 100
    with Image.open(Path(demo.root) / demo.images.first().path) as image:
        assert image.size == (32, 32) and image.mode == "RGB"


def test_a_dataset_that_runs_used_is_not_replaced_by_accident(tiny_dataset, tmp_path, settings):
    from tests.conftest import make_job

    settings.DATA_ROOTS = [tmp_path, Path(tiny_dataset.root)]
    make_job(tiny_dataset)
    before = (tiny_dataset.manifest_hash, tiny_dataset.images.count())
    for i in range(4):
        _image(tmp_path / "other" / "a" / f"{i}.png", (i, 9, 9))
    with pytest.raises(ImportRefused, match="1 training run"):
        import_dataset(tmp_path / "other", "tiny", PRESETS["default"])
    with pytest.raises(CommandError, match="already exists"):
        call_command("import_dataset", str(tmp_path / "other"), "--name", "tiny", "--no-progress")
    tiny_dataset.refresh_from_db()
    assert (tiny_dataset.manifest_hash, tiny_dataset.images.count()) == before
    call_command(
        "import_dataset", str(tmp_path / "other"), "--name", "tiny", "--no-progress", "--replace"
    )
    assert Dataset.objects.get(name="tiny").images.count() == 4
