"""Tests for jobs.schedules.cron: cron expressions as parse() validates and normalizes them."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobs.schedules import Schedule, next_fire_times, parse
from tests.jobs.schedules.conftest import NOW, field_errors, utc


def test_parse_cron_normalizes_whitespace_and_case() -> None:
    schedule = parse({"kind": "cron", "cron": "  0   9 * *   MON-FRI ", "timezone": "Europe/Berlin"}, now=NOW)
    assert schedule == Schedule(kind="cron", timezone="Europe/Berlin", cron="0 9 * * mon-fri")


@pytest.mark.parametrize(
    "expr",
    ["*/15 * * * *", "0,30 8-17 * * 1-5", "5 4 * jan,jul sun", "0 0 1 1 *", "0 0 * * 7", "5/15 * * * *", "0 0 29 2 *"],
)
def test_parse_valid_cron(expr: str) -> None:
    assert parse({"kind": "cron", "cron": expr}, now=NOW).cron == expr


@pytest.mark.parametrize(
    ("macro", "expanded"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *")],
)
def test_parse_cron_macros_are_expanded(macro: str, expanded: str) -> None:
    assert parse({"kind": "cron", "cron": macro}, now=NOW).cron == expanded


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "Minute field value 61 is out of range (allowed 0-59)."),
        ("0 24 * * *", "Hour field value 24 is out of range (allowed 0-23)."),
        ("0 0 0 * *", "Day-of-month field value 0 is out of range (allowed 1-31)."),
        ("0 0 32 * *", "Day-of-month field value 32 is out of range (allowed 1-31)."),
        ("0 0 * 13 *", "Month field value 13 is out of range (allowed 1-12 or jan-dec)."),
        ("0 0 * * 8", "Day-of-week field value 8 is out of range (allowed 0-7 or sun-sat)."),
        ("0 0 * foo *", 'Month field value "foo" is not valid (allowed 1-12 or jan-dec).'),
        ("0 0 * * funday", 'Day-of-week field value "funday" is not valid (allowed 0-7 or sun-sat).'),
        ("*/0 * * * *", 'Minute field step "0" is out of range (allowed 1-59).'),
        # "²" is a digit to str.isdigit, not to int(); 5000 digits are past int()'s limit.
        ("*/\u00b2 * * * *", 'Minute field step "\u00b2" is out of range (allowed 1-59).'),
        ("*/\u0663 * * * *", 'Minute field step "\u0663" is out of range (allowed 1-59).'),
        ("*/" + "9" * 5000 + " * * * *", f'Minute field step "{"9" * 20}" is out of range (allowed 1-59).'),
        ("9" * 5000 + " * * * *", f"Minute field value {'9' * 9}... is out of range (allowed 0-59)."),
        ("0 1-" + "9" * 5000 + " * * *", f"Hour field value {'9' * 9}... is out of range (allowed 0-23)."),
        ("0 0 * * 00000000008", "Day-of-week field value 8 is out of range (allowed 0-7 or sun-sat)."),
    ],
)
def test_parse_cron_field_ranges(expr: str, message: str) -> None:
    assert field_errors({"kind": "cron", "cron": expr}) == {"cron": [message]}


def test_parse_cron_reports_every_bad_field() -> None:
    fields = field_errors({"kind": "cron", "cron": "61 24 * * *"})
    assert fields["cron"] == [
        "Minute field value 61 is out of range (allowed 0-59).",
        "Hour field value 24 is out of range (allowed 0-23).",
    ]


@pytest.mark.parametrize("expr", ["0 9 * *", "0 0 9 * * 1", "", "   "])
def test_parse_cron_needs_five_fields(expr: str) -> None:
    fields = field_errors({"kind": "cron", "cron": expr})
    assert list(fields) == ["cron"]
    assert "5" in fields["cron"][0]


@pytest.mark.parametrize(
    "expr", ["1,,2 * * * *", "0 0 ? * *", "a-b-c * * * *", "0 l * * *", "0 0 * * 1w", "0 0 lw/2 * *"]
)
def test_parse_cron_rejects_non_standard_syntax(expr: str) -> None:
    fields = field_errors({"kind": "cron", "cron": expr})
    assert list(fields) == ["cron"]
    assert "allowed" in fields["cron"][0]


def test_parse_cron_rejects_reboot_macro() -> None:
    fields = field_errors({"kind": "cron", "cron": "@reboot"})
    assert "not supported" in fields["cron"][0]


def test_parse_cron_that_never_fires_is_converted_from_cronsim() -> None:
    # Our field checks pass (30 is a valid day); cronsim knows February has no 30th.
    fields = field_errors({"kind": "cron", "cron": "0 0 30 2 *"})
    assert list(fields) == ["cron"]
    assert "Day-of-month" in fields["cron"][0]


# --------------------------------------------------------------------------
# Syntax from other schedulers (issue 17): L, LW, nW, nL, n#k, wrap-around ranges
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "stored", "after", "expected"),
    [
        # L: the last day of the month (February 2024 is a leap month).
        ("0 9 L * *", "0 9 l * *", utc(2024, 1, 31, 10), ["2024-02-29T09:00", "2024-03-31T09:00", "2024-04-30T09:00"]),
        # LW: the last weekday (2025-05-31 is a Saturday, 2025-08-31 a Sunday).
        ("0 9 LW 5,8 *", "0 9 lw 5,8 *", NOW, ["2025-05-30T09:00", "2025-08-29T09:00", "2026-05-29T09:00"]),
        # nW: the weekday nearest the 15th (2025-02-15 a Saturday, 2025-06-15 a Sunday), never
        # leaving the month (2025-03-01 is a Saturday: the Monday after).
        ("0 9 15W 2,6 *", "0 9 15w 2,6 *", NOW, ["2025-02-14T09:00", "2025-06-16T09:00", "2026-02-16T09:00"]),
        ("0 9 1W 3 *", "0 9 1w 3 *", NOW, ["2025-03-03T09:00", "2026-03-02T09:00", "2027-03-01T09:00"]),
        # nL: the last Friday; 7L and 0L the last Sunday.
        ("0 17 * * 5L", "0 17 * * 5l", NOW, ["2025-01-31T17:00", "2025-02-28T17:00", "2025-03-28T17:00"]),
        ("0 0 * * 7L", "0 0 * * 7l", NOW, ["2025-01-26T00:00", "2025-02-23T00:00", "2025-03-30T00:00"]),
        # n#k: the second Monday, the fifth Friday (only in months that have one).
        ("0 9 * * 1#2", "0 9 * * 1#2", NOW, ["2025-01-13T09:00", "2025-02-10T09:00", "2025-03-10T09:00"]),
        ("0 9 * * FRI#5", "0 9 * * fri#5", NOW, ["2025-01-31T09:00", "2025-05-30T09:00", "2025-08-29T09:00"]),
        # Wrap-around ranges: Friday to Monday, 22:00 to 02:00, November to March.
        ("0 9 * * FRI-MON", "0 9 * * fri-mon", NOW, ["2025-01-03T09:00", "2025-01-04T09:00", "2025-01-05T09:00"]),
        ("0 22-2 * * *", "0 22-2 * * *", NOW, ["2025-01-01T22:00", "2025-01-01T23:00", "2025-01-02T00:00"]),
        ("0 0 1 NOV-MAR *", "0 0 1 nov-mar *", utc(2025, 2, 15), ["2025-03-01T00:00", "2025-11-01T00:00"]),
        ("0 22-2/2 * * *", "0 22-2/2 * * *", NOW, ["2025-01-01T22:00", "2025-01-02T00:00", "2025-01-02T02:00"]),
        # Every day of the week, however it is written.
        ("0 9 * * MON-SUN", "0 9 * * mon-sun", NOW, ["2025-01-02T09:00", "2025-01-03T09:00", "2025-01-04T09:00"]),
        ("0 9 * * 1-7", "0 9 * * 1-7", NOW, ["2025-01-02T09:00", "2025-01-03T09:00", "2025-01-04T09:00"]),
        # Lists mix them: the 1st and the last day.
        ("0 9 1,L * *", "0 9 1,l * *", NOW, ["2025-01-31T09:00", "2025-02-01T09:00", "2025-02-28T09:00"]),
    ],
)
def test_cron_syntax_from_other_schedulers(expr: str, stored: str, after: datetime, expected: list[str]) -> None:
    schedule = parse({"kind": "cron", "cron": expr}, now=NOW)
    assert schedule.cron == stored  # what the user wrote, lower-cased
    times = next_fire_times(schedule, after=after, count=len(expected))
    assert [f"{t:%Y-%m-%dT%H:%M}" for t in times] == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "0 0 9 * * 1",
            "Cron expression must have exactly 5 fields (minute hour day-of-month month day-of-week); got 6. "
            "A seconds field (or a year field), as in Quartz or Spring, is not supported.",
        ),
        (
            "0 0 9 * * ? 2030",
            "Cron expression must have exactly 5 fields (minute hour day-of-month month day-of-week); got 7. "
            "A seconds field (or a year field), as in Quartz or Spring, is not supported.",
        ),
        (
            "@reboot",
            '"@reboot" is not supported: jobs here run on a schedule, not when a machine starts; '
            "use a 5-field expression or one of @hourly, @daily, @weekly, @monthly, @yearly.",
        ),
        (
            "H * * * *",
            'Minute field "h": "H" (a hashed value, as in Jenkins) is not supported; '
            "write the number you want, such as 17.",
        ),
        (
            "H/15 H(0-7) * * *",
            'Minute field "h/15": "H" (a hashed value, as in Jenkins) is not supported; write the number you want, '
            "such as 17.",
        ),
        ("0 0 * * 1#6", 'Day-of-week field "1#6": the week number after "#" must be 1-5.'),
        ("0 0 * * 8l", "Day-of-week field value 8 is out of range (allowed 0-7 or sun-sat)."),
        ("0 0 32w * *", "Day-of-month field value 32 is out of range (allowed 1-31)."),
        (
            "0 0 ? * *",
            'Day-of-month field "?" is not valid (allowed 1-31, "L", "LW", "nW", combined with "*", '
            'ranges "a-b", lists "a,b" and steps "/n").',
        ),
        (
            "0 0 31w 4 *",
            'Day-of-month field never matches a day in the selected months (e.g. "30" in February); '
            "allowed 1-31 but within the month's length.",
        ),
    ],
)
def test_cron_syntax_that_stays_refused_says_why(expr: str, message: str) -> None:
    assert field_errors({"kind": "cron", "cron": expr})["cron"][0] == message
