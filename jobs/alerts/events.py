"""When a change of a job's state is an alert: one per change of state, never one per failed attempt.

Pure decisions on values the run services already have. A job's state is
its `consecutive_failures` (failed *slots*: a slot fails when its last
attempt does, `jobs.execution.policies.last_attempt`): 0 to more is `failed`,
more to 0 by a success is `recovered`. Further failed slots of a failing job
change nothing, and neither does a failed attempt that a retry follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.models import AlertKind, PauseReason, RunStatus, RunTrigger

#: Pauses decided by the service, not by the user who would be told about it.
ALERTING_PAUSES = frozenset({PauseReason.AUTO, PauseReason.OWNER_DEACTIVATED})
#: Runs whose start is measured against their slot.
LATE_TRIGGERS = frozenset({RunTrigger.SCHEDULE, RunTrigger.CATCHUP})


def after_run(*, status: str, failures_before: int, failures_after: int) -> str | None:
    """The alert a run's end leads to, given the job's consecutive failed slots before and after it."""
    if failures_before == 0 and failures_after > 0:
        return AlertKind.FAILED
    if failures_before > 0 and failures_after == 0 and status == RunStatus.SUCCEEDED:
        return AlertKind.RECOVERED
    return None


def late(*, trigger: str, lateness_seconds: float | None, threshold_seconds: int | None) -> str | None:
    """A scheduled run that started more than the job's threshold after its slot (retries and manual runs
    wait by design or have no slot: never late)."""
    if threshold_seconds is None or lateness_seconds is None or trigger not in LATE_TRIGGERS:
        return None
    return AlertKind.LATE if lateness_seconds > threshold_seconds else None


def after_pause(*, reason: str) -> str | None:
    """A pause the owner did not ask for (too many failures, the owner deactivated) is an alert."""
    return AlertKind.PAUSED if reason in ALERTING_PAUSES else None


def damped(*, last_of_kind_at: datetime | None, now: datetime, window_seconds: float) -> bool:
    """Flapping: at most one alert of a kind per job within `window_seconds` (0: never damped)."""
    if last_of_kind_at is None or window_seconds <= 0:
        return False
    return now - last_of_kind_at < timedelta(seconds=window_seconds)


def retry_delay(*, attempts: int, backoff_seconds: float) -> float:
    """Before the next try of a delivery tried `attempts` times: backoff * 2^(attempts-1)."""
    return backoff_seconds * 2 ** max(0, attempts - 1)
