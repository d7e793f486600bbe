from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from guide.contentio import CONTENT_DIR, ContentError, load_content


class Command(BaseCommand):
    help = "Load the guide's YAML content into the database (idempotent, matched by slug)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=CONTENT_DIR, help="content directory")

    def handle(self, *args, **options):
        try:
            report = load_content(options["dir"])
        except ContentError as exc:
            raise CommandError(f"Nothing was changed: {exc}") from exc
        for line in report.lines():
            self.stdout.write(line)
        verdict = "no changes" if not report.changed else f"{report.changed} changes"
        self.stdout.write(self.style.SUCCESS(f"Guide content loaded: {verdict}."))
