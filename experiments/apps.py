from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        # Registers the signal that revokes API tokens on a password change.
        import config.auth  # noqa: F401
