"""Revoked token ids and refresh families: kept in the database, copied into the shared cache.

simplejwt's token_blacklist app cannot run on MongoDB (its models hard-code
integer ids), so revocations are rows of accounts.models.RevokedToken, each
with the time after which its tokens have expired anyway (a TTL index deletes
them on MongoDB, `accounts.prune_revocations` on SQL). Every revocation is
written to the shared cache first, then to the database; a request reads only
the cache (one MGET with the user snapshot, see accounts.authentication).

A refresh *family* is every refresh token descended by rotation from one
login (its id is the first token's jti, carried by all of them and by the
access tokens they mint). Revoking a family ends all of them at once: on
logout, and when an already-rotated refresh token is presented again.

The cache may lose what it held (a flush, a restart empty, an eviction). The
marker `WARM_KEY`, read in the same MGET, says it holds every unexpired
revocation: it is set only by `warm()`, after copying them from the database,
and lost with the rest. A lookup that finds no marker asks the database about
its token and starts a `warm()` (one process at a time), so the next requests
are back to the cache alone. The marker also expires after `WARM_TTL`, which
bounds how long a copy can stay incomplete if a Redis comes back from an older
snapshot with the marker in it.

Why the cache is written first: a revocation that reached only the database
while Redis was unreachable but not empty (a partition, a stall) would be
invisible once Redis answered again with its marker still set. So a
revocation needs the cache (refresh and logout answer 503 without it), and
the database write follows; if that write fails the request fails, and the
revocation held by the cache lasts until the cache loses it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import RevokedToken

logger = logging.getLogger(__name__)

_PREFIX = "revoked-jti:"
_FAMILY_PREFIX = "revoked-family:"
_FAMILY_ROW = "family:"

#: Present while the cache holds every unexpired revocation (see the module docstring).
WARM_KEY = "revocations:warm"
WARM_TTL = 3600
_WARMING_KEY = "revocations:warming"
_WARMING_TTL = 120
_WARM_BATCH = 1000
_WARM_SPREAD = 300


class RevocationStoreUnavailable(Exception):
    """The shared cache holding revoked token ids could not be reached."""


def revoked_key(jti: str) -> str:
    return _PREFIX + jti


def revoked_family_key(family: str) -> str:
    return _FAMILY_PREFIX + family


def family_row_key(family: str) -> str:
    """The database key of a revoked family (a jti never starts with `family:`)."""
    return _FAMILY_ROW + family


def _cache_key(row_key: str) -> str:
    if row_key.startswith(_FAMILY_ROW):
        return revoked_family_key(row_key.removeprefix(_FAMILY_ROW))
    return revoked_key(row_key)


def _ttl(expires_at: float) -> int:
    return max(1, int(expires_at - time.time()) + 1)


def _record(row_key: str, expires_at: float) -> bool:
    """Insert the revocation; False if it was there already (the unique key decides, on every backend)."""
    try:
        # A savepoint on SQL: a duplicate must not break a transaction around the caller.
        with transaction.atomic():
            RevokedToken.objects.create(key=row_key, expires_at=datetime.fromtimestamp(expires_at, UTC))
    except IntegrityError:
        return False
    return True


def revoke(jti: str, expires_at: float) -> None:
    """Revoke `jti` until `expires_at` (a Unix time)."""
    try:
        cache.set(_PREFIX + jti, 1, timeout=_ttl(expires_at))
    except Exception as exc:  # any cache backend error means "unreachable"
        raise RevocationStoreUnavailable(str(exc)) from exc
    _record(jti, expires_at)


def revoke_once(jti: str, expires_at: float) -> bool:
    """Revoke `jti` unless it already was; True if this call revoked it (one winner per token).

    The cache's atomic add answers first; the database insert decides when the
    cache has lost the entry (flushed between two uses of the token).
    """
    try:
        added = cache.add(_PREFIX + jti, 1, timeout=_ttl(expires_at))
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc
    if not added:
        return False
    return _record(jti, expires_at)


def revoke_family(family: str, expires_at: float) -> None:
    """Revoke every token of `family` until `expires_at`, when its newest refresh token has expired."""
    try:
        cache.set(_FAMILY_PREFIX + family, 1, timeout=_ttl(expires_at))
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc
    _record(family_row_key(family), expires_at)


def revoked_in_database(jti: str | None, family: str) -> tuple[bool, bool]:
    """(is the token revoked, is its family revoked) according to the database: one query on the key."""
    keys = [family_row_key(family)] + ([jti] if jti else [])
    found = set(RevokedToken.objects.filter(key__in=keys).values_list("key", flat=True))
    return bool(jti) and jti in found, family_row_key(family) in found


def check_keys(jti: str | None, family: str) -> list[str]:
    """The cache keys a revocation lookup reads: the token's, its family's and the marker."""
    return [revoked_family_key(family), WARM_KEY] + ([revoked_key(jti)] if jti else [])


def revocation_from(found: dict[str, object], jti: str | None, family: str) -> tuple[bool, bool]:
    """(token revoked, family revoked) from what `check_keys` fetched; the database's answer if the cache
    has lost its copy (no marker), which also starts copying the revocations back into the cache."""
    if found.get(WARM_KEY) is None:
        logger.info("revocations not in the cache (flushed, restarted or expired marker): reading the database")
        answer = revoked_in_database(jti, family)
        warm()
        return answer
    return (
        bool(jti) and found.get(revoked_key(jti)) is not None,
        found.get(revoked_family_key(family)) is not None,
    )


def is_revoked(jti: str) -> bool:
    return revocation_of(jti, "")[0] if jti else False


def revocation_of(jti: str, family: str) -> tuple[bool, bool]:
    """(is the token revoked, is its family revoked): one cache round trip while the cache is warm."""
    keys = check_keys(jti, family)
    try:
        found = cache.get_many(keys)
    except Exception as exc:
        raise RevocationStoreUnavailable(str(exc)) from exc
    return revocation_from(found, jti, family)


def _unexpired() -> Iterable[tuple[str, datetime]]:
    rows = RevokedToken.objects.filter(expires_at__gt=timezone.now()).order_by("expires_at")
    return rows.values_list("key", "expires_at").iterator(chunk_size=_WARM_BATCH)


def warm() -> bool:
    """Copy every unexpired revocation from the database into the cache, then set the marker.

    One process at a time (an atomic add on `_WARMING_KEY`); the others keep
    asking the database about their own token meanwhile. The marker is set only
    if the lock is still the one taken here: a flush during the copy removes
    it, and what was copied before the flush is gone too. Returns True if the
    marker was set. Never raises: a failure leaves the marker unset (logged).
    """
    token = uuid.uuid4().hex
    try:
        if not cache.add(_WARMING_KEY, token, timeout=_WARMING_TTL):
            return False
    except Exception as exc:
        logger.warning("revocations not copied into the cache: unreachable (%s)", exc)
        return False
    copied = 0
    try:
        # Rows come by expiry; a batch shares the expiry of its last row, so it holds rows that expire
        # within _WARM_SPREAD seconds of each other: an entry outlives its row by at most that much
        # (harmless: its tokens have expired), and a day of revocations is a few hundred round trips.
        batch: dict[str, int] = {}
        first = latest = 0.0
        for row_key, expires_at in _unexpired():
            at = expires_at.timestamp()
            if batch and (len(batch) >= _WARM_BATCH or at - first > _WARM_SPREAD):
                cache.set_many(batch, timeout=_ttl(latest))
                copied += len(batch)
                batch = {}
            if not batch:
                first = at
            batch[_cache_key(row_key)] = 1
            latest = at
        if batch:
            cache.set_many(batch, timeout=_ttl(latest))
            copied += len(batch)
        if cache.get(_WARMING_KEY) != token:
            logger.warning("revocations copied into the cache, but it was cleared meanwhile: copying again later")
            return False
        cache.set(WARM_KEY, 1, timeout=WARM_TTL)
    except Exception as exc:
        logger.warning("revocations not copied into the cache (%s)", exc)
        return False
    finally:
        with contextlib.suppress(Exception):  # it expires by itself
            cache.delete(_WARMING_KEY)
    logger.info("%d revocation(s) copied from the database into the cache", copied)
    return True


def prune() -> int:
    """Delete the revocations whose tokens have all expired (SQL; MongoDB's TTL index does it too)."""
    deleted, _ = RevokedToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
