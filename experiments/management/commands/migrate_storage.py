from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from experiments.storage_migration import migrate


class Command(BaseCommand):
    help = (
        "Copy an installation's files into the configured storages (S3 when S3_ENDPOINT_URL is "
        "set): dataset images from their import folders, job and prediction files from "
        "MEDIA_ROOT. Verified by SHA-256; what is already stored is skipped, so it can be run "
        "again after an interruption. Source files are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--media-root",
            metavar="FOLDER",
            help="the old MEDIA_ROOT holding jobs/ and predict/ (default: MEDIA_ROOT)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, copy nothing")

    def handle(self, *args, **options):
        media_root = Path(options["media_root"] or settings.MEDIA_ROOT).expanduser()
        if not media_root.is_dir():
            raise CommandError(
                f"{media_root} is not a folder; give the old MEDIA_ROOT with --media-root."
            )
        try:
            report = migrate(media_root, options["dry_run"], say=self.stdout.write)
        except CommandError:
            raise
        except Exception as exc:  # the store unreachable, a missing bucket, no credentials
            raise CommandError(
                f"Cannot use the storage ({exc.__class__.__name__}: {exc}). Check S3_ENDPOINT_URL, "
                "S3_BUCKET and the credentials, then run the command again: what was copied "
                "is kept."
            ) from exc
        verb = "would copy" if options["dry_run"] else "copied"
        self.stdout.write(
            f"{verb} {report.copied}, replaced {report.replaced} (different checksum), "
            f"skipped {report.skipped} (already stored, same checksum), "
            f"{report.bytes / 2**20:.1f} MB; {len(report.missing)} missing source file(s), "
            f"{len(report.failed)} failed."
        )
        for path in report.missing[:20]:
            self.stdout.write(f"  missing: {path}")
        for line in report.failed:
            self.stderr.write(f"  failed: {line}")
        if not report.ok:
            raise CommandError(f"{len(report.failed)} file(s) failed; run the command again.")
