from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.serializers import TokenRefreshSerializer as BaseRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.revocation import is_revoked
from scheduler_site.errors import ServiceUnavailable


class TokenObtainSerializer(TokenObtainPairSerializer):
    default_error_messages = {"no_active_account": "Invalid username or password."}


def load_live_refresh_token(raw: str) -> RefreshToken:
    """Decode a refresh token and check it is neither revoked nor owned by an inactive user.

    Fails closed: if the revocation store is unreachable this raises
    ServiceUnavailable (503) rather than honour a token that may be revoked.
    """
    try:
        token = RefreshToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed(str(exc), code="token_not_valid") from exc
    try:
        revoked = is_revoked(token[api_settings.JTI_CLAIM])
    except Exception as exc:
        raise ServiceUnavailable("The token revocation store is unreachable; try again shortly.") from exc
    if revoked:
        raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("User is inactive or no longer exists.", code="user_inactive")
    return token


class TokenRefreshSerializer(BaseRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = load_live_refresh_token(attrs["refresh"])
        return {"access": str(token.access_token)}


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    """Response of token obtain (documentation only)."""

    access = serializers.CharField()
    refresh = serializers.CharField()


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField()


@extend_schema_field(
    {
        "type": "string",
        "anyOf": [{"format": "email"}, {"maxLength": 0}],
        "description": "The user's email address; empty when none was given (Django users may have none).",
    }
)
class EmailOrBlankField(serializers.CharField):
    pass


class MeSerializer(serializers.Serializer):
    """The signed-in user, as `GET /api/v1/me/` shows them."""

    id = serializers.CharField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = EmailOrBlankField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)
