"""POST /api/token/: a token that expires (see config.auth)."""

from datetime import timedelta

from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from .auth import token_expired


class ObtainExpiringToken(ObtainAuthToken):
    """POST username + password: the current token, or a new one when it has expired."""

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
