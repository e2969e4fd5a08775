"""Tests for jobs.schedules.descriptions: describe()."""

from __future__ import annotations

import pytest

from jobs.schedules import Schedule, describe, parse
from tests.jobs.schedules.conftest import NOW


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"}, "Every Monday at 09:00 (Europe/Berlin)"),
        ({"phrase": "every 15 minutes"}, "Every 15 minutes (UTC)"),
        # An interval is not aligned to the clock, so its text says where its slots are counted from.
        ({"kind": "interval", "every": 1, "unit": "hours"}, "Every hour, counted from 2025-01-01 12:00 (UTC)"),
        ({"kind": "interval", "every": 30, "unit": "seconds"}, "Every 30 seconds, counted from 2025-01-01 12:00 (UTC)"),
        (
            {"kind": "interval", "every": 14, "unit": "days", "timezone": "Europe/Berlin"},
            "Every 2 weeks, counted from Wednesday 2025-01-01 13:00 (Europe/Berlin)",
        ),
        ({"phrase": "every 7 minutes"}, "Every 7 minutes, counted from 2025-01-01 12:00 (UTC)"),
        ({"phrase": "daily at 02:30"}, "Every day at 02:30 (UTC)"),
        (
            {"phrase": "on 2031-01-01 at 12:00", "timezone": "Europe/Berlin"},
            "Once on 2031-01-01 at 12:00 (Europe/Berlin)",
        ),
        ({"phrase": "every hour"}, "Every hour (UTC)"),
        ({"phrase": "weekdays at 9am"}, "Every weekday at 09:00 (UTC)"),
        ({"phrase": "every 1st of the month at 00:00"}, "Every 1st of the month at 00:00 (UTC)"),
        ({"phrase": "every 22nd of the month at 06:05"}, "Every 22nd of the month at 06:05 (UTC)"),
        ({"kind": "cron", "cron": "0 9 * * 7"}, "Every Sunday at 09:00 (UTC)"),
        ({"kind": "cron", "cron": "0 9 * * mon-fri", "timezone": "Asia/Tokyo"}, "Every weekday at 09:00 (Asia/Tokyo)"),
        ({"kind": "cron", "cron": "*/15 * * * *"}, "Every 15 minutes (UTC)"),
        ({"kind": "cron", "cron": "30 14 * * 1,3"}, "Every Monday and Wednesday at 14:30 (UTC)"),
        ({"kind": "cron", "cron": "0 9 * * sun,mon"}, "Every Monday and Sunday at 09:00 (UTC)"),
        ({"kind": "cron", "cron": "*/5 9-16 * * 1-5"}, "Every 5 minutes from 09:00 to 16:55 on weekdays (UTC)"),
        ({"kind": "cron", "cron": "0 8-18/2 * * *"}, "Every 2 hours from 08:00 to 18:00 (UTC)"),
        # Shapes no phrase builds are still described by cron-descriptor.
        ({"kind": "cron", "cron": "30 9 1 2 *"}, "At 09:30, on day 1 of the month, only in February (UTC)"),
        ({"kind": "cron", "cron": "0 9 * * 1-3"}, "At 09:00, Monday through Wednesday (UTC)"),
    ],
)
def test_describe(data: dict, text: str) -> None:
    assert describe(parse(data, now=NOW)) == text


@pytest.mark.parametrize(
    ("cron", "text"),
    [
        ("0 9 L * *", "On the last day of every month at 09:00"),
        ("0 9 LW * *", "On the last weekday of every month at 09:00"),
        ("0 9 15W * *", "On the weekday nearest the 15th of every month at 09:00"),
        ("0 17 * * 5L", "On the last Friday of every month at 17:00"),
        ("0 9 * * 1#2", "On the second Monday of every month at 09:00"),
        ("0 9 * * MON-SUN", "Every day at 09:00"),
        ("0 9 * * 1-7", "Every day at 09:00"),
        ("0 9 * * 0-7", "Every day at 09:00"),
        ("*/15 * * * mon-sun", "Every 15 minutes"),
        ("0 9 * * FRI-MON", "At 09:00, Friday through Monday"),
        ("0 22-2 * * *", "Every hour from 22:00 to 02:00"),
        ("0 9-17 * * 1-5", "Every hour from 09:00 to 17:00 on weekdays"),
        ("0 9 * NOV-MAR *", "At 09:00, November through March"),
        ("0 9 28-3 * *", "At 09:00, on the 28th to the 3rd of the month"),
        ("0 9 1,L * *", "At 09:00, on the 1st and the last day of the month"),
        ("0 9 * * 1L,5#1", "At 09:00, on the last Monday and the first Friday of the month"),
        ("0 9 L 2 *", "At 09:00, on the last day of the month, only in February"),
        # Both day fields restricted: cron fires on days matching either.
        ("0 9 1 * MON", "At 09:00, on day 1 of the month, and on Monday"),
    ],
)
def test_describe_cron_syntax_from_other_schedulers(cron: str, text: str) -> None:
    assert describe(parse({"kind": "cron", "cron": cron}, now=NOW)) == f"{text} (UTC)"


def test_an_interval_in_a_zone_tzdata_no_longer_has_names_its_anchor_in_utc() -> None:
    schedule = Schedule(kind="interval", timezone="Gone/Zone", every=5, unit="minutes", anchor=NOW)
    assert describe(schedule) == "Every 5 minutes, counted from 2025-01-01 12:00 (UTC)"
