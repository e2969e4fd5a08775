"""The service's JWTs: what they carry beyond simplejwt's claims, and how those claims are read.

Every token carries
- `gen`: the user's `token_generation` when its login happened. A password
  change, deactivation or reactivation bumps the user's generation
  (accounts.models.User.save), and a token of another generation is refused:
  on each request against the cached user snapshot, on refresh against the
  user's row.
- `family`: the jti of the login's first refresh token. Refresh rotates (a new
  refresh token each time, the old one revoked) and the family id is passed
  on, as it is to the access tokens minted on the way; see accounts.revocation.

Refresh, its rotation and revocation are services (accounts.services). This
module stays free of the error module and the services: DRF imports the
authentication class (which uses these checks) while its own modules are
still loading.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken as BaseRefreshToken

GENERATION_CLAIM = "gen"
FAMILY_CLAIM = "family"
STALE_MESSAGE = "Token was issued before a password change or deactivation; sign in again."


class RefreshToken(BaseRefreshToken):
    @classmethod
    def for_user(cls, user: Any) -> RefreshToken:
        token = super().for_user(user)
        token[GENERATION_CLAIM] = user.token_generation
        token[FAMILY_CLAIM] = token[api_settings.JTI_CLAIM]
        return token


def malformed(what: str) -> InvalidToken:
    return InvalidToken({"detail": f"Token has a malformed {what}.", "code": "token_not_valid"})


def user_id_of(token: Any) -> Any:
    """The token's user id in the user model's own type; a malformed one makes the token invalid (401).

    Left to the ORM, a non-UUID id is a validation error, which DRF would answer with 400.
    """
    claim = token.get(api_settings.USER_ID_CLAIM)
    if claim is None:
        return None
    field = get_user_model()._meta.get_field(api_settings.USER_ID_FIELD)
    try:
        return field.to_python(claim)
    except (ValidationError, TypeError, ValueError) as exc:
        raise malformed("user id") from exc


def generation_of(token: Any) -> int:
    value = token.get(GENERATION_CLAIM)
    if type(value) is not int or value < 0:  # bool is an int subclass: refused too
        raise malformed("token generation")
    return value


def family_of(token: Any) -> str:
    value = token.get(FAMILY_CLAIM)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise malformed("token family")
    return value


def check_generation(token: Any, user: Any) -> None:
    """Refuse a token minted before the user's latest password change, deactivation or reactivation."""
    if generation_of(token) != user.token_generation:
        raise InvalidToken({"detail": STALE_MESSAGE, "code": "token_not_valid"})


def family_expiry() -> float:
    """When every refresh token of a family minted until now has expired (a revoked family's lifetime)."""
    return time.time() + api_settings.REFRESH_TOKEN_LIFETIME.total_seconds()
