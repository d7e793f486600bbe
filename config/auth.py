"""API authentication: tokens that expire and die with a password change; throttles."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis comes with the requirements
    RedisError = OSError

logger = logging.getLogger(__name__)


def token_expired(token: Token) -> bool:
    return token.created < timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS)


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused (and deleted) API_TOKEN_TTL_HOURS after issue."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed(
                "Token expired; get a new one from POST /api/token/."
            )
        return user, token


@receiver(pre_save, sender=get_user_model())
def revoke_tokens_on_password_change(sender, instance, **kwargs) -> None:
    """A new password ends every API token issued under the old one."""
    if not instance.pk:
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()


class _SettingsRate:
    """Read the rate from settings.API_THROTTLE_RATES at request time (not at import).

    Fails open: while the cache that holds the counts (Redis under docker-compose) is
    unreachable, requests are served unthrottled and the log says so; an API that answers
    500 to everyone would be worse than one that briefly counts nothing."""

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("API throttle skipped: its cache is unreachable (%s)", exc)
            return True


class AnonThrottle(_SettingsRate, AnonRateThrottle):
    pass


class UserThrottle(_SettingsRate, UserRateThrottle):
    pass


def axes_username(request, credentials) -> str:
    """The username django-axes records, cut to the user model's length (an attacker's
    400-character "username" must not fail the failed-login bookkeeping)."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username", "") if hasattr(request, "POST") else ""
    return str(name or "")[:150]
