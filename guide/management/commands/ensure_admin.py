import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from experiments.roles import ensure_researchers_group


class Command(BaseCommand):
    help = (
        "Create the admin account and a researcher account once. Passwords from "
        "DJANGO_ADMIN_PASSWORD / DJANGO_RESEARCHER_PASSWORD, or generated and printed the first "
        "time. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DJANGO_ADMIN_USER", "admin"))
        parser.add_argument("--email", default=os.environ.get("DJANGO_ADMIN_EMAIL", ""))
        parser.add_argument(
            "--researcher",
            default=os.environ.get("DJANGO_RESEARCHER_USER", "researcher"),
            help="researcher account name ('' for none)",
        )

    def handle(self, *args, **options):
        self._ensure(
            options["username"], "DJANGO_ADMIN_PASSWORD", superuser=True, email=options["email"]
        )
        if options["researcher"]:
            self._ensure(options["researcher"], "DJANGO_RESEARCHER_PASSWORD", superuser=False)

    def _ensure(self, username: str, password_variable: str, superuser: bool, email: str = ""):
        User = get_user_model()
        role = "admin" if superuser else "researcher"
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"The {role} account '{username}' already exists; left unchanged.")
            return
        password = os.environ.get(password_variable) or secrets.token_urlsafe(12)
        if superuser:
            User.objects.create_superuser(username, email, password)
        else:
            user = User.objects.create_user(username, "", password)
            user.groups.add(ensure_researchers_group())
        if os.environ.get(password_variable):
            self.stdout.write(f"Created the {role} account '{username}' ({password_variable}).")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Created the {role} account '{username}' with password: {password}\n"
                    f"It is shown only this once; set {password_variable} to choose it yourself."
                )
            )
