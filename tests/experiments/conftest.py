import pytest

from experiments.demo import write_digits
from experiments.importer import ImportOptions, import_dataset


@pytest.fixture
def tiny_dataset(db, tmp_path_factory, settings):
    """A small real-image dataset (scikit-learn digits, 3 classes, 32 px) in the database."""
    root = tmp_path_factory.mktemp("digits")
    settings.DATA_ROOTS = [root]
    write_digits(root, per_class=16, size=32, classes=3)
    return import_dataset(root, "tiny", ImportOptions(test_fraction=0.25, seed=0)).dataset
