from django.core.management.base import BaseCommand, CommandError

from experiments.jobs.actions import ActionRefused, cancel
from experiments.models import TrainingJob


class Command(BaseCommand):
    help = "Cancel a training job: a queued job never starts; a running one stops within seconds."

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)

    def handle(self, *args, **options):
        job = TrainingJob.objects.filter(pk=options["job_id"]).first()
        if job is None:
            raise CommandError(f"No job #{options['job_id']}.")
        try:
            outcome = cancel(job)
        except ActionRefused as exc:
            raise CommandError(str(exc)) from exc
        message = (
            "cancelled" if outcome == "cancelled" else "asked to stop; it will end as cancelled"
        )
        self.stdout.write(self.style.SUCCESS(f"Job #{job.pk} {message}."))
