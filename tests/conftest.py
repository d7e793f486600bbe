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


@pytest.fixture
def researcher(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("rita", password="password")
    user.groups.add(Group.objects.get(name="Researchers"))
    return user


@pytest.fixture
def visitor(db, django_user_model):
    """Logged in, but not a researcher."""
    return django_user_model.objects.create_user("victor", password="password")


def make_job(dataset=None, **fields):
    """A finished-looking job row with metrics, for page and figure tests."""
    from experiments.models import EpochMetric, TrainingJob
    from experiments.presets import TABLE_4_1

    library = fields.pop("library", "fastai")
    values = {**TABLE_4_1[library], "library": library, "architecture": "resnet50",
              "dataset": dataset, "dataset_name": dataset.name if dataset else "gone",
              "epochs1": 2, "epochs2": 3, "status": "succeeded",
              "evaluation": {"accuracy": 0.5, "classes": ["a", "b"], "per_class": [],
                             "confusion_matrix": [[1, 1], [0, 2]], "most_confused": [],
                             "top_losses": [], "n_test": 4},
              "phase_seconds": {"1": 10.0, "2": 20.0}}
    values.update(fields)
    job = TrainingJob.objects.create(**values)
    rows = [(1, e) for e in range(1, job.epochs1 + 1)] + [(2, e) for e in range(1, job.epochs2 + 1)]
    EpochMetric.objects.bulk_create(
        EpochMetric(job=job, phase=p, epoch=e, train_loss=1.0 / (p + e), valid_loss=1.2 / (p + e),
                    valid_accuracy=0.5 + 0.01 * e, learning_rate=1e-3, seconds=1.0,
                    images_per_second=100.0)
        for p, e in rows
    )
    return job
