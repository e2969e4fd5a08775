"""Tests for jobs.schedules.descriptions: describe()."""

from __future__ import annotations

import pytest

from jobs.schedules import describe, parse
from tests.jobs.schedules.conftest import NOW


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"}, "Every Monday at 09:00 (Europe/Berlin)"),
        ({"phrase": "every 15 minutes"}, "Every 15 minutes"),
        ({"kind": "interval", "every": 1, "unit": "hours"}, "Every hour"),
        ({"kind": "interval", "every": 30, "unit": "seconds"}, "Every 30 seconds"),
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
        ({"kind": "cron", "cron": "30 14 * * 1,3"}, "At 14:30, only on Monday and Wednesday (UTC)"),
    ],
)
def test_describe(data: dict, text: str) -> None:
    assert describe(parse(data, now=NOW)) == text
