"""Tests for jobs.schedules.model: the constants, the Schedule dataclass and ScheduleError."""

from __future__ import annotations

from jobs.schedules import KINDS, UNITS, Schedule, ScheduleError
from tests.jobs.schedules.conftest import NOW


def test_constants() -> None:
    assert KINDS == ("interval", "cron", "once")
    assert UNITS == {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def test_interval_seconds_property() -> None:
    assert Schedule(kind="interval", every=15, unit="minutes", anchor=NOW).interval_seconds == 900
    assert Schedule(kind="cron", cron="0 9 * * 1").interval_seconds is None


def test_schedule_error_is_value_error() -> None:
    err = ScheduleError("boom", {"cron": ["boom"]})
    assert isinstance(err, ValueError)
    assert err.fields == {"cron": ["boom"]}
    assert ScheduleError("plain").fields == {}
