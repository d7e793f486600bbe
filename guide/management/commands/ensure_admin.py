import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin account once. Password from DJANGO_ADMIN_PASSWORD, or generated and "
        "printed the first time. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DJANGO_ADMIN_USER", "admin"))
        parser.add_argument("--email", default=os.environ.get("DJANGO_ADMIN_EMAIL", ""))

    def handle(self, *args, **options):
        User = get_user_model()
        username = options["username"]
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin account '{username}' already exists; left unchanged.")
            return
        password = os.environ.get("DJANGO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, options["email"], password)
        if os.environ.get("DJANGO_ADMIN_PASSWORD"):
            self.stdout.write(f"Created admin '{username}' with DJANGO_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin '{username}' with password: {password}\n"
                    "It is shown only this once; change it in /admin/ or set "
                    "DJANGO_ADMIN_PASSWORD before the first run."
                )
            )
