from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from experiments.research.retention import prune_predictions


class Command(BaseCommand):
    help = (
        "Delete finished image predictions (and their image and heatmap files) older than "
        "PREDICTION_RETENTION_DAYS, or --older-than DAYS. Queued and running ones are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", metavar="DAYS", help="instead of PREDICTION_RETENTION_DAYS (1 or more)"
        )
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args, **options):
        raw = options["older_than"]
        if raw is None:
            days = settings.PREDICTION_RETENTION_DAYS
            if days == 0:
                self.stdout.write("PREDICTION_RETENTION_DAYS is 0: predictions are kept forever.")
                return
        else:
            try:
                days = int(raw)
            except ValueError:
                days = 0
            if days < 1:
                raise CommandError(
                    f"--older-than must be a whole number of days, 1 or more: {raw!r}"
                )
        dry_run = options["dry_run"]
        result = prune_predictions(days, dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        for item in result.removed:
            files = ", ".join(item.files) or "no files left"
            self.stdout.write(
                f"{verb} prediction {item.id} (run #{item.job}, {item.status}, "
                f"{item.created_at:%Y-%m-%d}): {files}"
            )
        for reason in result.skipped:
            self.stderr.write(f"Skipped: {reason}")
        count = sum(len(item.files) for item in result.removed)
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {len(result.removed)} prediction(s) older than {days} days, "
                f"{count} file(s)."
            )
        )
