"""POST /api/token/: a token that expires (see config.auth)."""

from datetime import timedelta

from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.settings import api_settings

from .auth import token_expired
from .parsers import SafeJSONRenderer


class ObtainExpiringToken(ObtainAuthToken):
    """POST username + password: the current token, or a new one when it has expired."""

    # The project's parsers and renderer (size/depth limits), not ObtainAuthToken's own.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    renderer_classes = [SafeJSONRenderer]

    def get_serializer_context(self):
        # django-axes marks the Django request as locked out; its middleware then answers 429.
        return {**super().get_serializer_context(), "request": self.request._request}

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        if token_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
        expires = token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)
        return Response({"token": token.key, "expires": expires.isoformat()})


obtain_expiring_token = ObtainExpiringToken.as_view()
