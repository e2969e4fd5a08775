"""When a change of state is an alert (jobs.alerts.events): pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.alerts import events
from jobs.models import AlertKind, PauseReason, RunStatus


@pytest.mark.parametrize(
    ("status", "before", "after", "expected"),
    [
        (RunStatus.FAILED, 0, 1, AlertKind.FAILED),  # the first failed slot
        (RunStatus.TIMED_OUT, 0, 1, AlertKind.FAILED),
        (RunStatus.FAILED, 0, 0, None),  # an attempt that a retry follows: the slot has not failed yet
        (RunStatus.FAILED, 1, 2, None),  # still failing: no new alert
        (RunStatus.SUCCEEDED, 3, 0, AlertKind.RECOVERED),
        (RunStatus.SUCCEEDED, 0, 0, None),
        (RunStatus.SKIPPED, 2, 2, None),
    ],
)
def test_one_alert_per_change_of_state(status, before, after, expected):
    assert events.after_run(status=status, failures_before=before, failures_after=after) == expected


def test_only_pauses_the_owner_did_not_ask_for_alert():
    assert events.after_pause(reason=PauseReason.AUTO) == AlertKind.PAUSED
    assert events.after_pause(reason=PauseReason.OWNER_DEACTIVATED) == AlertKind.PAUSED
    assert events.after_pause(reason=PauseReason.USER) is None
    assert events.after_pause(reason=PauseReason.FINISHED) is None


def test_damping_window():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert events.damped(last_of_kind_at=now - timedelta(seconds=299), now=now, window_seconds=300)
    assert not events.damped(last_of_kind_at=now - timedelta(seconds=300), now=now, window_seconds=300)
    assert not events.damped(last_of_kind_at=None, now=now, window_seconds=300)
    assert not events.damped(last_of_kind_at=now, now=now, window_seconds=0)


def test_delivery_backoff_doubles():
    assert [events.retry_delay(attempts=n, backoff_seconds=30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
