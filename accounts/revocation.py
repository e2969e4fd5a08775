"""Revoked token ids and refresh families, kept in the shared cache until their tokens would expire anyway.

simplejwt's token_blacklist app cannot run on MongoDB (its models hard-code
integer ids), so revocation lives in the cache every process shares.

A refresh *family* is every refresh token descended by rotation from one
login (its id is the first token's jti, carried by all of them and by the
access tokens they mint). Revoking a family ends all of them at once: on
logout, and when an already-rotated refresh token is presented again.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "revoked-jti:"
_FAMILY_PREFIX = "revoked-family:"


class RevocationStoreUnavailable(Exception):
    """The shared cache holding revoked token ids could not be reached."""


def revoked_key(jti: str) -> str:
    return _PREFIX + jti


def revoked_family_key(family: str) -> str:
    return _FAMILY_PREFIX + family


def _ttl(expires_at: float) -> int:
    return max(1, int(expires_at - time.time()) + 1)


def revoke(jti: str, expires_at: int) -> None:
    """Remember `jti` as revoked until `expires_at` (a Unix time)."""
    try:
        cache.set(_PREFIX + jti, 1, timeout=_ttl(expires_at))
    except Exception as exc:  # any cache backend error means "unreachable"
        raise RevocationStoreUnavailable(str(exc)) from exc


def revoke_once(jti: str, expires_at: int) -> bool:
    """Revoke `jti` unless it already was; True if this call revoked it (one winner per token)."""
    try:
        return bool(cache.add(_PREFIX + jti, 1, timeout=_ttl(expires_at)))
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc


def revoke_family(family: str, expires_at: float) -> None:
    """Revoke every token of `family` until `expires_at`, when its newest refresh token has expired."""
    try:
        cache.set(_FAMILY_PREFIX + family, 1, timeout=_ttl(expires_at))
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc


def is_revoked(jti: str) -> bool:
    try:
        return cache.get(_PREFIX + jti) is not None
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc


def revocation_of(jti: str, family: str) -> tuple[bool, bool]:
    """(is the token revoked, is its family revoked), in one round trip."""
    keys = (_PREFIX + jti, _FAMILY_PREFIX + family)
    try:
        found = cache.get_many(keys)
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc
    return found.get(keys[0]) is not None, found.get(keys[1]) is not None
