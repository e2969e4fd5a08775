"""Revoked token ids, kept in the shared cache until the token would expire anyway.

simplejwt's token_blacklist app cannot run on MongoDB (its models hard-code
integer ids), so revocation lives in the cache every process shares.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "revoked-jti:"


class RevocationStoreUnavailable(Exception):
    """The shared cache holding revoked token ids could not be reached."""


def revoked_key(jti: str) -> str:
    return _PREFIX + jti


def revoke(jti: str, expires_at: int) -> None:
    """Remember `jti` as revoked until `expires_at` (a Unix time)."""
    ttl = max(1, int(expires_at - time.time()) + 1)
    try:
        cache.set(_PREFIX + jti, 1, timeout=ttl)
    except Exception as exc:  # any cache backend error means "unreachable"
        raise RevocationStoreUnavailable(str(exc)) from exc


def is_revoked(jti: str) -> bool:
    try:
        return cache.get(_PREFIX + jti) is not None
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc
