"""Throttles: the login limiter that punishes the attacker, and the fail-open rate throttle the API uses.

Login: failures are counted, not requests
-----------------------------------------
Token obtain is gated by the failed logins behind it, in three counters:

* per (username, address) pair: `LOGIN_FAILURES_PER_PAIR` failures lock that pair;
* per address, whatever the usernames: `LOGIN_FAILURES_PER_ADDRESS` lock the address;
* per username, across addresses: `LOGIN_FAILURES_PER_USERNAME` lock the username, but only for
  addresses that have failures of their own for it. An address with no failed attempt on the
  username (the owner at home, or the owner who just logged in successfully from there) is never
  refused by this counter, so a guess spread over many addresses cannot lock the owner out; it only
  stops each guessing address from trying more than once while the username is locked.

A lock lasts `LOGIN_LOCKOUT_SECONDS` after the failure that reached the threshold and doubles with
each further failure (one is allowed whenever a lock lapses), up to `LOGIN_LOCKOUT_MAX_SECONDS`.
A counter is forgotten `LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS` after its latest failure; a
successful login clears its own pair's counter (not the address's nor the username's, which an
attacker holding one valid account could otherwise reset).

The gate runs before the password is checked, so a refused attempt costs no password hash and a
correct password from a locked pair is still refused; the outcome is recorded afterwards. Attempts
that arrive together before the first failure is recorded all get checked: the lock starts with the
first recorded failure past the threshold (bounded in practice by the server's concurrency).

Every refusal is logged (username truncated, address, the limit that refused) and counted
(`scheduler_login_throttled_total{limit}`); every failure is counted (`scheduler_login_failures_total`).

Where the counters live, and when Redis is down
-----------------------------------------------
In Django's cache (Redis in production), which every process shares. If the cache cannot be read or
written, the limiter never fails open: it counts in a bounded, thread-safe dictionary inside the
process with the same rules, and logs the outage once (and its end). Each gunicorn worker process
then counts on its own, so during an outage an attacker whose requests spread over the workers gets
up to (number of workers) x the limits; that is accepted as the price of not depending on a second
store. Locks recorded in the process are honoured until they lapse, also after the cache answers again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import APIException, Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from scheduler_site import metrics

logger = logging.getLogger(__name__)

LOGGED_USERNAME_CHARS = 32  # enough to recognise an account; a password typed as username stays mostly out of the log
MEMORY_MAX_ENTRIES = 50_000  # per process, while the cache is down; the oldest entries go first


class FailOpenThrottle(SimpleRateThrottle):
    """A throttle whose rate is a setting, and which lets requests through while the cache is unreachable.

    For per-user API rates (see jobs.api.throttles), where an outage should not stop the service.
    Login does not use it: its limiter falls back to counting in the process instead.
    """

    setting_name = ""

    def get_rate(self) -> str:
        return getattr(settings, self.setting_name)

    def allow_request(self, request: Request, view: object) -> bool:
        try:
            return super().allow_request(request, view)
        except APIException:
            raise  # e.g. a body that does not parse: the client's error, not the cache's
        except Exception as exc:  # cache unreachable: don't lock everyone out
            logger.warning("%s throttle skipped: cache unreachable (%s)", self.scope, exc)
            return True


# --- the rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    per_pair: int
    per_address: int
    per_username: int
    lockout: float
    lockout_max: float
    forget_after: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            per_pair=settings.LOGIN_FAILURES_PER_PAIR,
            per_address=settings.LOGIN_FAILURES_PER_ADDRESS,
            per_username=settings.LOGIN_FAILURES_PER_USERNAME,
            lockout=settings.LOGIN_LOCKOUT_SECONDS,
            lockout_max=settings.LOGIN_LOCKOUT_MAX_SECONDS,
            forget_after=settings.LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS,
        )

    def lockout_after(self, failures: int, threshold: int) -> float:
        """Seconds a counter with `failures` stays locked after its latest failure (0 below the threshold)."""
        if failures < threshold:
            return 0.0
        doublings = min(failures - threshold, 32)  # past the cap anyway; keeps the power small
        return min(self.lockout * 2**doublings, self.lockout_max)


@dataclass(frozen=True)
class Record:
    failures: int
    last: float  # Unix time of the latest failure

    def locked_until(self, threshold: int, limits: Limits) -> float:
        return self.last + limits.lockout_after(self.failures, threshold)


# --- where the counters live -----------------------------------------------------------


class CacheStore:
    """Counters in Django's cache, shared by every process. Any method raises if the cache is unreachable.

    The count is an atomic `incr`; the latest failure's time is a second key. Expiry is decided here
    from that time (the cache's own expiry only collects garbage), so a pinned clock works in tests.
    """

    def read(self, keys: Iterable[str], now: float, forget_after: float) -> dict[str, Record]:
        keys = list(keys)
        values = cache.get_many([f"{key}:n" for key in keys] + [f"{key}:t" for key in keys])
        records = {}
        for key in keys:
            count, last = values.get(f"{key}:n"), values.get(f"{key}:t")
            if count and last is not None and now - last <= forget_after:
                records[key] = Record(int(count), float(last))
        return records

    def add_failure(self, keys: Iterable[str], now: float, forget_after: float) -> None:
        keys = list(keys)
        timeout = math.ceil(forget_after) + 60
        lasts = cache.get_many([f"{key}:t" for key in keys])
        for key in keys:
            count_key = f"{key}:n"
            last = lasts.get(f"{key}:t")
            if last is None or now - last > forget_after:
                cache.set(count_key, 1, timeout)
            else:
                try:
                    cache.incr(count_key)
                except ValueError:  # expired between the two reads
                    cache.set(count_key, 1, timeout)
                cache.touch(count_key, timeout)
            cache.set(f"{key}:t", now, timeout)

    def clear(self, keys: Iterable[str]) -> None:
        cache.delete_many([f"{key}:{part}" for key in keys for part in ("n", "t")])


class MemoryStore:
    """Counters in this process only: the fallback while the cache is unreachable.

    A dictionary in write order, bounded to `max_entries` (the least recently failing go first),
    whose entries are dropped once forgotten. Thread-safe: gunicorn threads share it.
    """

    def __init__(self, max_entries: int = MEMORY_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Record] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, keys: Iterable[str], now: float, forget_after: float) -> dict[str, Record]:
        with self._lock:
            found = ((key, self._entries.get(key)) for key in keys)
            return {key: record for key, record in found if record and now - record.last <= forget_after}

    def add_failure(self, keys: Iterable[str], now: float, forget_after: float) -> None:
        with self._lock:
            for key in keys:
                old = self._entries.pop(key, None)
                failures = old.failures + 1 if old and now - old.last <= forget_after else 1
                self._entries[key] = Record(failures, now)
            while self._entries:
                oldest = next(iter(self._entries.values()))
                if len(self._entries) <= self.max_entries and now - oldest.last <= forget_after:
                    break
                self._entries.popitem(last=False)

    def clear(self, keys: Iterable[str] | None = None) -> None:
        with self._lock:
            if keys is None:
                self._entries.clear()
            for key in keys or ():
                self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class _Outage:
    """Whether the cache was last seen unreachable, so an outage is logged once, and its end once."""

    def __init__(self) -> None:
        self._down = False
        self._lock = threading.Lock()

    def down(self, exc: Exception) -> None:
        with self._lock:
            was_down, self._down = self._down, True
        if not was_down:
            logger.warning(
                "login throttling: shared cache unreachable (%s: %s); counting failed logins in this process "
                "until it answers (each worker process counts on its own)",
                type(exc).__name__,
                exc,
            )

    def up(self) -> None:
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            logger.warning("login throttling: shared cache answers again; counting failed logins there")


shared_store = CacheStore()
local_store = MemoryStore()
outage = _Outage()


# --- one login attempt ---------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def _username(request: Request) -> str | None:
    username = request.data.get("username") if hasattr(request.data, "get") else None
    if isinstance(username, (int, float)) and not isinstance(username, bool):
        username = str(username)  # the serializer's CharField accepts numbers too
    if not isinstance(username, str) or not username.strip():
        return None
    return username.strip().lower()[:150]


class LoginAttempt:
    """The gate before a password is checked, and the record of the outcome after.

    `check()` raises Throttled (429, Retry-After) if the attempt's pair or address is locked, or its
    username is locked and this pair has failed before; `failed()` and `succeeded()` record the outcome.
    """

    def __init__(self, request: Request) -> None:
        self.limits = Limits.from_settings()
        self.username = _username(request)
        self.address = BaseThrottle().get_ident(request)  # honours NUM_PROXIES
        self.address_key = f"login:fail:address:{_digest(self.address)}"
        self.pair_key = self.username_key = None
        if self.username is not None:
            self.pair_key = f"login:fail:pair:{_digest(self.username, self.address)}"
            self.username_key = f"login:fail:username:{_digest(self.username)}"

    @property
    def _keys(self) -> list[str]:
        return [key for key in (self.pair_key, self.address_key, self.username_key) if key]

    def check(self) -> None:
        now = time.time()
        keys, forget = self._keys, self.limits.forget_after
        stores = [local_store.read(keys, now, forget)]
        try:
            stores.append(shared_store.read(keys, now, forget))
        except Exception as exc:
            outage.down(exc)
        else:
            outage.up()

        def locked_until(key: str | None, threshold: int) -> float:
            records = [store[key] for store in stores if key in store]
            return max((record.locked_until(threshold, self.limits) for record in records), default=0.0)

        limits = self.limits
        locks = {
            "pair": locked_until(self.pair_key, limits.per_pair),
            "address": locked_until(self.address_key, limits.per_address),
        }
        if any(self.pair_key in store for store in stores):  # only addresses failing on this username
            locks["username"] = locked_until(self.username_key, limits.per_username)
        limit, until = max(locks.items(), key=lambda item: item[1])
        if until > now:
            self._refuse(limit, until - now)

    def _refuse(self, limit: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        logger.warning(
            "login throttled: limit=%s username=%r address=%s retry_after=%ss",
            limit,
            (self.username or "")[:LOGGED_USERNAME_CHARS],
            self.address,
            seconds,
        )
        metrics.record_login_throttled(limit)
        raise Throttled(wait=seconds)

    def failed(self) -> None:
        metrics.record_login_failure()
        now = time.time()
        try:
            shared_store.add_failure(self._keys, now, self.limits.forget_after)
        except Exception as exc:
            outage.down(exc)
            local_store.add_failure(self._keys, now, self.limits.forget_after)

    def succeeded(self) -> None:
        if self.pair_key is None:
            return
        local_store.clear([self.pair_key])
        try:
            shared_store.clear([self.pair_key])
        except Exception as exc:
            outage.down(exc)
