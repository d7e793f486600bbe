from pathlib import Path

from django.core.management.base import BaseCommand

from guide.contentio import CONTENT_DIR, export_content


class Command(BaseCommand):
    help = "Write the guide's content from the database back to the YAML files (after admin edits)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=CONTENT_DIR, help="target directory")

    def handle(self, *args, **options):
        for path in export_content(options["dir"]):
            self.stdout.write(f"wrote {path}")
        self.stdout.write(self.style.SUCCESS("Export done. Review with `git diff` and commit."))
