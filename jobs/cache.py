"""Caching of what the jobs API serves, in the shared cache (Redis in production).

Keys are versioned: every write to a job bumps its owner's version (and the
global version staff views use) to a fresh token, so the next read in any
process misses and sees the write. Nothing ever scans keys. Entries live at most
API_CACHE_TTL_SECONDS and never past the earliest `next_run_at` they contain,
so cached `next_runs` are never in the past.

A bump that fails (Redis unreachable or stalled while a write commits) is not
dropped: the process retries it every BUMP_RETRY_SECONDS until it succeeds, for
as long as an entry could live (API_CACHE_TTL_SECONDS). So once Redis answers
again, an entry cached before the write stops being served within about that
interval instead of living out its TTL. (A process that dies with a bump
pending leaves the TTL as the bound.)

The cache is an accelerator only: when it is unreachable every function here
logs a warning and the caller reads from the database.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from scheduler_site import metrics

logger = logging.getLogger(__name__)

_OWNER = "jobs:v:owner:{}"
_GLOBAL = "jobs:v:all"


def _warn(action: str, exc: Exception) -> None:
    logger.warning("jobs cache %s skipped: cache unreachable (%s: %s)", action, type(exc).__name__, exc)


def _new_version() -> str:
    return uuid.uuid4().hex[:16]


def invalidate(owner_ids: Iterable[Any]) -> None:
    """The one hook every write calls: the owners' cached responses are stale once the write commits.

    Bumped at commit (at once outside a transaction): bumped earlier, a
    reader could store what it read before the commit under the new
    version, and serve it until the next write.
    """
    owners = list(dict.fromkeys(owner_ids))
    if owners:
        transaction.on_commit(lambda: bump_many(owners))


def bump(owner_id: Any) -> None:
    """Invalidate every cached response that may contain the owner's jobs.

    A version is a fresh random token, not a counter: one round trip, no
    read-modify-write race, and if a version key is ever lost (evicted,
    flushed) its replacement can never coincide with an old version whose
    entries are still cached.
    """
    bump_many([owner_id])


def bump_many(owner_ids: Iterable[Any]) -> None:
    """`bump` for several owners in one round trip; retried in the background if the cache fails."""
    owners = list(owner_ids)
    if not owners:
        return
    try:
        _set_versions(owners)
    except Exception as exc:
        _warn("invalidation", exc)
        _retry.add(owners)


def _set_versions(owners: Iterable[Any]) -> None:
    versions = {_OWNER.format(owner_id): _new_version() for owner_id in owners}
    cache.set_many({**versions, _GLOBAL: _new_version()}, timeout=None)


BUMP_RETRY_SECONDS = 0.5


class _BumpRetry:
    """Owners whose bump failed, retried by one daemon thread per process until the cache takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[Any] = set()
        self._since = 0.0  # monotonic time of the oldest failure still pending
        self._running = False

    def add(self, owners: Iterable[Any]) -> None:
        with self._lock:
            if not self._pending:
                self._since = time.monotonic()
            self._pending.update(owners)
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="jobs-cache-bump-retry", daemon=True).start()

    def pending(self) -> set[Any]:
        with self._lock:
            return set(self._pending)

    def _run(self) -> None:
        while True:
            time.sleep(BUMP_RETRY_SECONDS)
            with self._lock:
                owners = list(self._pending)
                expired = time.monotonic() - self._since > settings.API_CACHE_TTL_SECONDS
                if not owners or expired:  # done, or every entry it guarded has expired anyway
                    self._pending.clear()
                    self._running = False
                    return
            try:
                _set_versions(owners)
            except Exception as exc:  # still unreachable: the first failure was logged as a warning
                logger.debug("jobs cache invalidation retry failed: %s", exc)
                continue
            logger.info("jobs cache invalidation of %d owner(s) done after the cache came back", len(owners))
            with self._lock:
                self._pending.difference_update(owners)


_retry = _BumpRetry()


@dataclass(frozen=True)
class Lookup:
    """The outcome of one cache lookup for a response.

    `body` is the cached JSON on a hit. `key` and `version` say where to store
    a freshly built response (None when the cache is unreachable: don't).
    """

    key: str | None
    version: str | None
    body: bytes | None


_UNREACHABLE = Lookup(None, None, None)


def keys(*, scope: str, owner_id: Any, staff: bool, path: str, query: str) -> tuple[str, str]:
    """The version key and the response key of one cached response."""
    version_key = _GLOBAL if staff else _OWNER.format(owner_id)
    digest = hashlib.sha256(f"{path}?{query}".encode()).hexdigest()[:32]
    who = "staff" if staff else owner_id
    return version_key, f"jobs:r:{scope}:{who}:{digest}"


def lookup(
    *, scope: str, owner_id: Any, staff: bool, path: str, query: str, prefetched: Mapping[str, Any] | None = None
) -> Lookup:
    """Fetch the version and the cached response in one round trip.

    An entry is stored with the version current when its data was read; it is
    a hit only while that is still the current version, so any write (which
    sets a new version) makes every older entry a miss in every process.
    `prefetched`: both keys already read (None for absent), e.g. together
    with the token's revocation check; then no round trip is made here.
    """
    if settings.API_CACHE_TTL_SECONDS <= 0:  # response caching disabled
        return _UNREACHABLE
    version_key, key = keys(scope=scope, owner_id=owner_id, staff=staff, path=path, query=query)
    try:
        if prefetched is not None and version_key in prefetched and key in prefetched:
            found = prefetched
        else:
            found = cache.get_many([version_key, key])
        version = found.get(version_key)
        if version is None:
            # First use (or the key was lost): whichever process adds first wins.
            cache.add(version_key, _new_version(), timeout=None)
            version = cache.get(version_key)
            if version is None:  # vanished again at once (a flush): do not cache this response
                metrics.record_cache(hit=False)
                return _UNREACHABLE
    except Exception as exc:
        _warn("lookup", exc)
        metrics.record_cache(hit=False)
        return _UNREACHABLE
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        metrics.record_cache(hit=True)
        return Lookup(key, version, entry[1])
    metrics.record_cache(hit=False)
    return Lookup(key, version, None)


def store(found: Lookup, body: bytes, *, ttl: float | None = None) -> None:
    """Cache a response built after `found` missed (TTL capped by API_CACHE_TTL_SECONDS)."""
    if found.key is None:
        return
    timeout = settings.API_CACHE_TTL_SECONDS if ttl is None else min(ttl, settings.API_CACHE_TTL_SECONDS)
    if timeout < 1:
        return
    if len(body) > settings.API_CACHE_MAX_ENTRY_BYTES:
        # A page of large actions: served from the database each time rather
        # than letting one user's jobs take a large share of Redis.
        return
    try:
        cache.set(found.key, (found.version, body), timeout=int(timeout))
    except Exception as exc:
        _warn("store", exc)
