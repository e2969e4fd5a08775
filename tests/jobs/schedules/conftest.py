"""Shared helpers for the jobs.schedules tests: a pinned "now", zones, and parse shortcuts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules import Schedule, ScheduleError, parse

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    # tests/conftest.py has an autouse fixture of this name that needs the
    # Django `db` fixture; these tests are pure Python and need no database,
    # so shadow it with a no-op. test_pure.py proves the package itself
    # imports without Django.
    return None


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cron(expr: str, tz: str = "UTC") -> Schedule:
    return parse({"kind": "cron", "cron": expr, "timezone": tz}, now=NOW)


def as_utc(times: list[datetime]) -> list[datetime]:
    return [t.astimezone(UTC) for t in times]


def field_errors(data: dict, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ScheduleError) as info:
        parse(data, now=kwargs.pop("now", NOW), **kwargs)
    assert info.value.message == next(iter(info.value.fields.values()))[0]
    assert str(info.value) == info.value.message
    return info.value.fields
