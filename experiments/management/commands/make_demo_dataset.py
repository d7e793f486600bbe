from django.conf import settings
from django.core.management.base import BaseCommand

from experiments.demo import write_digits
from experiments.importer import ImportOptions, format_report, import_dataset
from experiments.models import Dataset


class Command(BaseCommand):
    help = "Write and import the 'demo' dataset (scikit-learn digits, 10 classes) if missing."

    def add_arguments(self, parser):
        parser.add_argument("--per-class", type=int, default=60)
        parser.add_argument("--force", action="store_true", help="rewrite and re-import")

    def handle(self, *args, **options):
        if Dataset.objects.filter(name="demo").exists() and not options["force"]:
            self.stdout.write("Dataset 'demo' already imported; left unchanged.")
            return
        target = settings.VAR_DIR / "datasets" / "digits-demo"
        count = write_digits(target, per_class=options["per_class"])
        options_ = ImportOptions(valid_fraction=0.2, test_fraction=0.2, seed=0)
        result = import_dataset(target, "demo", options_, preset="demo")
        for line in format_report(result.dataset):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Demo dataset ready ({count} images)."))
