from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify
from tqdm import tqdm

from experiments.datasets.importer import (
    PRESETS,
    ImportOptions,
    ImportRefused,
    format_report,
    import_dataset,
)


class Command(BaseCommand):
    help = (
        "Import and clean an image folder (Kaggle Train/ + Test/ layout, or one folder per class)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", help="dataset name (default: the folder name)")
        parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
        parser.add_argument("--min-images", type=int, help="drop classes with fewer images")
        parser.add_argument("--valid-fraction", type=float)
        parser.add_argument("--test-fraction", type=float, help="single-folder layout only")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="re-import over a dataset that training runs already used",
        )

    def handle(self, *args, **options):
        preset = PRESETS[options["preset"]]
        overrides = {
            "min_images_per_class": options["min_images"],
            "valid_fraction": options["valid_fraction"],
            "test_fraction": options["test_fraction"],
            "seed": options["seed"],
        }
        values = {**preset.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
        for key in ("valid_fraction", "test_fraction"):
            if not 0 <= values[key] < 1:
                raise CommandError(f"--{key.replace('_', '-')} must be at least 0 and below 1.")
        if values["min_images_per_class"] < 0:
            raise CommandError("--min-images cannot be negative.")
        name = options["name"] or slugify(options["path"].resolve().name)
        if not name:
            raise CommandError("Give the dataset a --name.")
        bar = None if options["no_progress"] else tqdm(unit="file", desc="Checking images")

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.update(done - bar.n)

        try:
            result = import_dataset(
                options["path"],
                name,
                ImportOptions(**values),
                options["preset"],
                progress,
                replace_used=options["replace"],
            )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        for line in format_report(result.dataset):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Imported '{result.dataset.name}'."))
