from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from guide.learner_views import signup

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("config.api_urls")),
    path("experiments/", include("experiments.urls")),
    path("", include("guide.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
