import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM guard would refuse
# the database access that live_server tests do around it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the content once into the test database; tests roll back around it."""
    from guide.contentio import load_content

    with django_db_blocker.unblock():
        load_content()


@pytest.fixture
def content(db):
    """The guide's real content from guide/content/*.yaml (reloaded only after a flush)."""
    from guide.contentio import load_content
    from guide.models import Mooc

    if not Mooc.objects.exists():
        load_content()


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def tiny_dataset(db, tmp_path_factory, settings):
    """A small real-image dataset (scikit-learn digits, 3 classes, 32 px) in the database."""
    from experiments.demo import write_digits
    from experiments.importer import ImportOptions, import_dataset

    root = tmp_path_factory.mktemp("digits")
    settings.DATA_ROOTS = [root]
    write_digits(root, per_class=16, size=32, classes=3)
    return import_dataset(root, "tiny", ImportOptions(test_fraction=0.25, seed=0)).dataset
