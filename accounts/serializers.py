from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.serializers import TokenRefreshSerializer as BaseRefreshSerializer

from accounts import services
from accounts.tokens import RefreshToken


class TokenObtainSerializer(TokenObtainPairSerializer):
    token_class = RefreshToken  # carries the user's token generation and a new refresh family
    default_error_messages = {"no_active_account": "Invalid username or password."}


class TokenRefreshSerializer(BaseRefreshSerializer):
    """A live refresh token in; a new access token and the rotated refresh token out."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        return services.token_refresh(refresh=attrs["refresh"])


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    """Response of token obtain (documentation only)."""

    access = serializers.CharField()
    refresh = serializers.CharField()


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
