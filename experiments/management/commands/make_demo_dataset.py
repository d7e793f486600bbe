import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from experiments.datasets.demo import write_digits
from experiments.datasets.importer import ImportOptions, format_report, import_dataset
from experiments.models import Dataset


def demo_folder() -> Path:
    """var/datasets/digits-demo when var/datasets is a data root, else digits-demo in the first
    writable data root: the demo works with any DATA_ROOTS."""
    roots = [Path(r) for r in settings.DATA_ROOTS]
    preferred = Path(settings.VAR_DIR) / "datasets"
    for root in sorted(roots, key=lambda r: r.resolve() != preferred.resolve()):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            return root / "digits-demo"
    raise CommandError(
        "No writable folder in DATA_ROOTS ("
        + (", ".join(str(r) for r in roots) or "none set")
        + ") to write the demo dataset into; add one, e.g. DATA_ROOTS=$PWD/var/datasets."
    )


class Command(BaseCommand):
    help = "Write and import the 'demo' dataset (scikit-learn digits, 10 classes) if missing."

    def add_arguments(self, parser):
        parser.add_argument("--per-class", type=int, default=60)
        parser.add_argument("--force", action="store_true", help="rewrite and re-import")

    def handle(self, *args, **options):
        if Dataset.objects.filter(name="demo").exists() and not options["force"]:
            self.stdout.write("Dataset 'demo' already imported; left unchanged.")
            return
        target = demo_folder()
        count = write_digits(target, per_class=options["per_class"])
        options_ = ImportOptions(valid_fraction=0.2, test_fraction=0.2, seed=0)
        result = import_dataset(target, "demo", options_, preset="demo")
        for line in format_report(result.dataset):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Demo dataset ready ({count} images)."))
