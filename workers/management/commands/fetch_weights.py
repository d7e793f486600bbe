from django.core.management.base import BaseCommand, CommandError

from experiments.architectures import ARCHITECTURES


class Command(BaseCommand):
    help = (
        "Download ImageNet weights into the libraries' own caches (needs internet). Run it on a "
        "connected machine and copy the cache files to the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--library", choices=sorted(ARCHITECTURES), required=True)
        parser.add_argument("--arch", action="append", help="repeatable; default: all")

    def handle(self, *args, **options):
        from workers.training.base import get_backend

        library = options["library"]
        archs = options["arch"] or [a for a in ARCHITECTURES[library] if a != "small-cnn"]
        unknown = [a for a in archs if a not in ARCHITECTURES[library]]
        if unknown:
            raise CommandError(f"Unknown architecture(s) for {library}: {', '.join(unknown)}")
        backend = get_backend(library)
        for arch in archs:
            try:
                path = backend.fetch_weights(arch)
            except Exception as exc:
                self.stderr.write(f"{arch}: could not download ({exc.__class__.__name__}: {exc})")
                continue
            self.stdout.write(self.style.SUCCESS(f"{arch}: {path}"))
