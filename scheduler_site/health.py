"""Readiness: `/readyz` checks the database, the shared cache (Redis) and the Celery broker.

Each check runs in its own thread and all three run at once, so the answer
comes within READYZ_TIMEOUT_SECONDS whatever hangs (a blackholed host can
block a driver far longer than its own timeouts promise). Settings are read at
request time, so a test's override_settings is seen.

The database is critical: without it nothing works, so it answers 503 and the
load balancer takes the instance out. A failed cache or broker answers 200
with `"status": "degraded"` naming the check: the API still serves reads and
writes, and since every instance shares one Redis, failing readiness
everywhere would turn a degradation into an outage. `?strict=1` answers 503
for any failed check (for deploy gates that want everything up).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs.beat import lease, partitions
from jobs.execution import store
from scheduler_site.logging import redact

CRITICAL = frozenset({"database"})
_PROBE_KEY = "ops:readyz:probe"


def check_database(timeout: float) -> dict[str, Any]:
    database = store.current()
    database.ping(timeout)
    # Whether writes that belong together (a job, its audit event and its
    # mirror row) share a transaction: a standalone MongoDB server has none.
    # Which beat is active is information, not readiness: the web serves without one.
    return {"vendor": database.kind, "writes": database.transaction_mode, "beat": _active_beat()}


def _active_beat() -> dict[str, Any] | None:
    if settings.JOBS_BEAT_PARTITIONS > 1:
        # Beats share the jobs (jobs/beat/partitions.py): each partition's lease, as the single one is shown.
        return {
            "partitions": [
                {"partition": share.partition, **(_lease_view(share.lease) or {"active": None})}
                for share in partitions.current_states()
            ]
        }
    return _lease_view(lease.current_state())


def _lease_view(state: lease.LeaseState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "active": state.holder or None,
        "generation": state.generation,
        "since": state.acquired_at.isoformat() if state.acquired_at else None,
        "renewed_at": state.renewed_at.isoformat() if state.renewed_at else None,
    }


def check_cache(timeout: float) -> dict[str, Any]:
    cache = caches["default"]
    token = secrets.token_hex(8)
    # A write and a read back: a Redis that accepts connections but refuses
    # writes (out of memory, a read-only replica) is not ready either.
    cache.set(_PROBE_KEY, token, timeout=30)
    if cache.get(_PROBE_KEY) != token:
        raise RuntimeError("a value written to the cache did not read back")
    return {"backend": _cache_backend_name(settings.CACHES["default"]["BACKEND"])}


def _cache_backend_name(backend: str) -> str:
    if "redis" in backend.lower():
        return "redis"
    if backend.endswith("DatabaseCache"):
        return "database"
    return backend.rsplit(".", 1)[-1]


def check_broker(timeout: float) -> dict[str, Any]:
    url = settings.CELERY_BROKER_URL
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
    transport = url.split("://", 1)[0] or "amqp"
    if transport == "filesystem":
        # kombu's filesystem transport never "connects": it is ready when the
        # folders it moves messages through exist and are writable.
        folders = [options.get("data_folder_in"), options.get("data_folder_out")]
        if options.get("store_processed"):
            folders.append(options.get("processed_folder"))
        for folder in filter(None, dict.fromkeys(folders)):
            if not os.path.isdir(folder):
                raise RuntimeError(f"broker folder {folder} does not exist")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise RuntimeError(f"broker folder {folder} is not writable")
        return {"transport": transport}

    from kombu import Connection

    if transport in ("redis", "rediss"):
        options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    with Connection(url, connect_timeout=timeout, transport_options=options) as connection:
        # One immediate retry smooths over a dropped pooled socket; no sleeping.
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    return {"transport": transport}


CHECKS: dict[str, Callable[[float], dict[str, Any]]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def _run_one(check: Callable[[float], dict[str, Any]], timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = check(timeout)
        result: dict[str, Any] = {"status": "ok", **details}
    except Exception as exc:
        result = {"status": "error", "error": redact(f"{type(exc).__name__}: {exc}".strip())}
    finally:
        # This thread's own database connections (checks run outside the
        # request thread), so no connection outlives the check.
        connections.close_all()
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def run_checks(timeout: float | None = None) -> dict[str, dict[str, Any]]:
    """Every check's result, within `timeout` seconds (READYZ_TIMEOUT_SECONDS by default)."""
    timeout = settings.READYZ_TIMEOUT_SECONDS if timeout is None else timeout
    executor = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
    futures = {name: executor.submit(_run_one, check, timeout) for name, check in CHECKS.items()}
    wait_for(futures.values(), timeout=timeout)
    # A check still blocked is abandoned, not waited for.
    executor.shutdown(wait=False, cancel_futures=True)
    results: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        if future.done() and not future.cancelled():
            results[name] = future.result()
        else:
            results[name] = {"status": "error", "error": f"no answer within {timeout:g} s"}
    return results


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    strict = request.GET.get("strict", "").lower() in ("1", "true", "yes", "on")
    checks = run_checks()
    failed = [name for name, result in checks.items() if result["status"] != "ok"]
    if CRITICAL.intersection(failed):
        status, code = "unavailable", 503
    elif failed:
        status, code = "degraded", 503 if strict else 200
    else:
        status, code = "ok", 200
    body: dict[str, Any] = {"status": status, "checks": checks}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=code)
