from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth.views import PasswordResetDoneView
from django.urls import include, path

from guide.learner_views import signup


def mail_destination() -> str:
    """Where password-reset mail really goes with the configured backend (said on the page)."""
    from django.utils.translation import gettext as _

    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend == "console":
        return _(
            "This server prints e-mail to its own log instead of sending it: ask the "
            "administrator for the reset link from the web server's output."
        )
    if backend == "smtp":
        return _("The e-mail was handed to the mail server %(host)s.") % {
            "host": settings.EMAIL_HOST
        }
    return _("This server does not send e-mail (backend: %(name)s); ask the administrator.") % {
        "name": backend
    }


urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/signup/", signup, name="signup"),
    path(
        "accounts/password_reset/done/",
        PasswordResetDoneView.as_view(extra_context={"mail_destination": mail_destination}),
        name="password_reset_done",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("config.api_urls")),
    path("experiments/", include("experiments.urls")),
    path("", include("guide.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "config.errors.bad_request"
handler500 = "config.errors.server_error"
