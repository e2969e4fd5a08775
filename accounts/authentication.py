from __future__ import annotations

import logging

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.revocation import RevocationStoreUnavailable, is_revoked

logger = logging.getLogger(__name__)


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication plus the revocation list kept in the shared cache.

    If the revocation store is unreachable, a valid access token is still
    accepted (access tokens are short-lived and user deactivation is checked
    on every request); the skipped lookup is logged.
    """

    def get_validated_token(self, raw_token: bytes):  # type: ignore[no-untyped-def]
        token = super().get_validated_token(raw_token)
        jti = token.get("jti")
        try:
            revoked = bool(jti) and is_revoked(jti)
        except RevocationStoreUnavailable as exc:
            logger.warning("token revocation check skipped: store unreachable (%s)", exc)
            revoked = False
        if revoked:
            raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"})
        return token
