"""Tasks every installation has. Imported when the jobs app is ready."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from jobs.execution import claims
from jobs.execution.registry import register


@register("echo")
def echo(*args: Any, **kwargs: Any) -> Any:
    """Return the keyword arguments (and positional ones, if any) unchanged."""
    return {"args": list(args), "kwargs": kwargs} if args else kwargs


@register("heartbeat")
def heartbeat(**kwargs: Any) -> dict[str, Any]:
    """Report that a worker ran it, and when."""
    return {"alive": True, "at": datetime.now(UTC).isoformat(), **kwargs}


@register("sleep")
def sleep(seconds: float = 1.0) -> dict[str, float]:
    """Sleep for `seconds` (for trying timeouts and overlap)."""
    time.sleep(float(seconds))
    return {"slept": float(seconds)}


@register("fail")
def fail(message: str = "failed on purpose") -> None:
    """Raise an error (for trying retries and alerts)."""
    raise RuntimeError(message)


@register("cleanup_runs", system_only=True)
def cleanup_runs(days: int | None = None) -> dict[str, int]:
    """Delete runs older than RUNS_RETENTION_DAYS (system only)."""
    return {"deleted": claims.prune(days=days)}
