"""Tests for jobs.schedules (pure Python: run with `pytest -p no:django`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from jobs.schedules import (
    KINDS,
    UNITS,
    Schedule,
    ScheduleError,
    describe,
    from_dict,
    next_fire_time,
    next_fire_times,
    parse,
    parse_phrase,
    slots_between,
    to_dict,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    # tests/conftest.py has an autouse fixture of this name that needs the
    # Django `db` fixture; these tests are pure Python and must run with
    # `-p no:django`, so shadow it with a no-op.
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


# --------------------------------------------------------------------------
# Constants and the dataclass
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Phrases
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("every monday at 09:00", "0 9 * * 1"),
        ("every tuesday at 09:00", "0 9 * * 2"),
        ("every wednesday at 09:00", "0 9 * * 3"),
        ("every thursday at 09:00", "0 9 * * 4"),
        ("every friday at 09:00", "0 9 * * 5"),
        ("every saturday at 09:00", "0 9 * * 6"),
        ("every sunday at 09:00", "0 9 * * 0"),
        ("every mondays at 09:00", "0 9 * * 1"),
        ("mondays at 9am", "0 9 * * 1"),
        ("  Every   MONDAY   at   09:00  ", "0 9 * * 1"),
        ("daily at 02:30", "30 2 * * *"),
        ("every day at 02:30", "30 2 * * *"),
        ("every day", "0 0 * * *"),
        ("weekdays at 9am", "0 9 * * 1-5"),
        ("every weekday at 17:30", "30 17 * * 1-5"),
        ("weekdays at 9:30pm", "30 21 * * 1-5"),
        ("weekdays at 12am", "0 0 * * 1-5"),
        ("weekdays at 12pm", "0 12 * * 1-5"),
        ("weekdays at 9 PM", "0 21 * * 1-5"),
        ("every hour", "0 * * * *"),
        ("hourly", "0 * * * *"),
        ("HOURLY", "0 * * * *"),
        ("every minute", "* * * * *"),
        ("every 1st of the month at 00:00", "0 0 1 * *"),
        ("every 2nd of the month at 06:15", "15 6 2 * *"),
        ("every 3rd of the month at 23:59", "59 23 3 * *"),
        ("every 15th of the month at 12:00", "0 12 15 * *"),
        ("every 31st of the month at 00:00", "0 0 31 * *"),
    ],
)
def test_phrases_to_cron(phrase: str, expected: str) -> None:
    schedule = parse_phrase(phrase, timezone="Europe/Berlin", now=NOW)
    assert schedule.kind == "cron"
    assert schedule.cron == expected
    assert schedule.timezone == "Europe/Berlin"
    assert schedule.phrase == phrase.strip()


@pytest.mark.parametrize(
    ("phrase", "every", "unit"),
    [
        ("every 15 minutes", 15, "minutes"),
        ("every 1 minute", 1, "minutes"),
        ("every 30 seconds", 30, "seconds"),
        ("every 10 seconds", 10, "seconds"),
        ("every 2 hours", 2, "hours"),
        ("every 1 hour", 1, "hours"),
        ("every 3 days", 3, "days"),
        ("EVERY  15  MINUTES", 15, "minutes"),
    ],
)
def test_phrases_to_interval(phrase: str, every: int, unit: str) -> None:
    schedule = parse_phrase(phrase, now=NOW)
    assert (schedule.kind, schedule.every, schedule.unit) == ("interval", every, unit)
    assert schedule.anchor == NOW  # anchored at "now"
    assert schedule.interval_seconds == every * UNITS[unit]


def test_phrase_on_date_is_once_in_schedule_timezone() -> None:
    schedule = parse_phrase("on 2031-01-01 at 12:00", timezone="Europe/Berlin", now=NOW)
    assert schedule.kind == "once"
    assert schedule.at == datetime(2031, 1, 1, 11, 0, tzinfo=UTC)  # 12:00 CET
    assert schedule.at.tzinfo == BERLIN
    assert describe(schedule) == "Once on 2031-01-01 at 12:00 (Europe/Berlin)"


def test_phrase_on_date_in_dst_gap_moves_after_the_gap() -> None:
    schedule = parse_phrase("on 2025-03-30 at 02:30", timezone="Europe/Berlin", now=NOW)
    assert schedule.at == utc(2025, 3, 30, 1, 0)  # 03:00 CEST, like cron


def test_phrase_on_date_repeated_time_is_first_occurrence() -> None:
    schedule = parse_phrase("on 2025-11-02 at 01:30", timezone="America/New_York", now=NOW)
    # Compared in UTC: == against another zone is always False inside a fold.
    assert schedule.at.astimezone(UTC) == utc(2025, 11, 2, 5, 30)  # 01:30 EDT


def test_phrase_through_parse_keeps_phrase_and_uses_anchor() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = parse({"phrase": "every 15 minutes", "timezone": "Europe/Berlin"}, now=NOW, anchor=anchor)
    assert schedule.phrase == "every 15 minutes"
    assert schedule.anchor == anchor
    assert schedule.timezone == "Europe/Berlin"


def test_phrase_wins_over_kind_fields() -> None:
    schedule = parse({"phrase": "daily at 02:30", "kind": "cron", "cron": "0 9 * * 1"}, now=NOW)
    assert schedule.cron == "30 2 * * *"


def test_blank_phrase_is_ignored_when_kind_given() -> None:
    schedule = parse({"phrase": "  ", "kind": "cron", "cron": "0 9 * * 1"}, now=NOW)
    assert schedule.cron == "0 9 * * 1"
    assert schedule.phrase is None


@pytest.mark.parametrize("phrase", ["evry tuesday", "every blue moon", "at 9", "every -5 minutes", "tomorrow"])
def test_unknown_phrase(phrase: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=NOW)
    assert info.value.fields == {
        "phrase": [f'Could not understand "{phrase}". Try a phrase like "every monday at 09:00".']
    }


def test_unknown_phrase_message_exact() -> None:
    fields = field_errors({"phrase": "evry tuesday"})
    assert fields == {"phrase": ['Could not understand "evry tuesday". Try a phrase like "every monday at 09:00".']}


@pytest.mark.parametrize("phrase", ["daily at 25:00", "daily at 12:60", "weekdays at 13pm", "weekdays at 0am"])
def test_phrase_bad_time(phrase: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=NOW)
    assert "00:00 to 23:59" in info.value.fields["phrase"][0]


def test_phrase_bad_day_of_month() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("every 32nd of the month at 00:00", now=NOW)
    assert info.value.fields == {"phrase": ["Day of month 32 is out of range (allowed 1st-31st)."]}


def test_phrase_interval_below_minimum() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("every 5 seconds", now=NOW)
    assert info.value.fields == {"phrase": ["Interval must be at least 10 seconds; got 5 seconds."]}
    with pytest.raises(ScheduleError):
        parse_phrase("every 1 minute", now=NOW, min_interval_seconds=120)


def test_phrase_once_in_past() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("on 2020-01-01 at 12:00", now=NOW)
    assert "in the past" in info.value.fields["phrase"][0]


def test_phrase_invalid_date() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("on 2031-02-30 at 12:00", now=NOW)
    assert "not a valid calendar date" in info.value.fields["phrase"][0]


def test_phrase_unknown_timezone() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("daily at 02:30", timezone="Mars/Base", now=NOW)
    assert info.value.fields == {
        "timezone": ['Unknown time zone "Mars/Base"; use an IANA name such as "Europe/Berlin".']
    }


def test_phrase_uses_pinned_now() -> None:
    with time_machine.travel(datetime(2030, 6, 1, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        schedule = parse_phrase("every 15 minutes", now=now)
        assert schedule.anchor == datetime(2030, 6, 1, tzinfo=UTC)
        with pytest.raises(ScheduleError):
            parse_phrase("on 2030-05-31 at 23:00", now=now)


# --------------------------------------------------------------------------
# parse(): valid dicts and errors
# --------------------------------------------------------------------------


def test_parse_cron_normalizes_whitespace_and_case() -> None:
    schedule = parse({"kind": "cron", "cron": "  0   9 * *   MON-FRI ", "timezone": "Europe/Berlin"}, now=NOW)
    assert schedule == Schedule(kind="cron", timezone="Europe/Berlin", cron="0 9 * * mon-fri")


def test_parse_timezone_defaults_to_utc() -> None:
    assert parse({"kind": "cron", "cron": "0 9 * * 1"}, now=NOW).timezone == "UTC"
    assert parse({"kind": "cron", "cron": "0 9 * * 1", "timezone": None}, now=NOW).timezone == "UTC"


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
        ("0 5-1 * * *", 'Hour field range "5-1" runs backwards (allowed 0-23, low to high).'),
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


@pytest.mark.parametrize("expr", ["1,,2 * * * *", "0 0 L * *", "0 0 * * 1#2", "0 0 ? * *", "a-b-c * * * *"])
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


@pytest.mark.parametrize("tz", ["Mars/Base", "", "localtime", "Europe", "../etc/passwd", 5])
def test_parse_unknown_timezone(tz: object) -> None:
    fields = field_errors({"kind": "cron", "cron": "0 9 * * 1", "timezone": tz})
    assert list(fields) == ["timezone"]
    assert "IANA name" in fields["timezone"][0]


def test_parse_unknown_timezone_message_exact() -> None:
    fields = field_errors({"kind": "cron", "cron": "0 9 * * 1", "timezone": "Mars/Base"})
    assert fields == {"timezone": ['Unknown time zone "Mars/Base"; use an IANA name such as "Europe/Berlin".']}


def test_parse_collects_several_fields() -> None:
    fields = field_errors({"kind": "cron", "cron": "61 * * * *", "timezone": "Mars/Base"})
    assert set(fields) == {"cron", "timezone"}


def test_parse_interval() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = parse({"kind": "interval", "every": 15, "unit": "minutes"}, now=NOW, anchor=anchor)
    assert (schedule.kind, schedule.every, schedule.unit, schedule.anchor) == ("interval", 15, "minutes", anchor)
    assert parse({"kind": "interval", "every": 15, "unit": "minutes"}, now=NOW).anchor == NOW


def test_parse_interval_ignores_anchor_in_data() -> None:
    data = {"kind": "interval", "every": 15, "unit": "minutes", "anchor": "2000-01-01T00:00:00+00:00"}
    assert parse(data, now=NOW).anchor == NOW


def test_parse_interval_below_minimum() -> None:
    fields = field_errors({"kind": "interval", "every": 5, "unit": "seconds"})
    assert fields == {"every": ["Interval must be at least 10 seconds; got 5 seconds."]}
    fields = field_errors({"kind": "interval", "every": 1, "unit": "minutes"}, min_interval_seconds=120)
    assert fields == {"every": ["Interval must be at least 120 seconds; got 60 seconds."]}
    assert parse({"kind": "interval", "every": 10, "unit": "seconds"}, now=NOW).interval_seconds == 10


@pytest.mark.parametrize("every", [0, -1, True, False, 1.5, "15", None])
def test_parse_interval_bad_every(every: object) -> None:
    fields = field_errors({"kind": "interval", "every": every, "unit": "minutes"})
    assert list(fields) == ["every"]


@pytest.mark.parametrize("unit", ["weeks", "minute", "", 5])
def test_parse_interval_bad_unit(unit: object) -> None:
    fields = field_errors({"kind": "interval", "every": 15, "unit": unit})
    assert fields == {"unit": ["Must be one of: seconds, minutes, hours, days."]}


def test_parse_interval_missing_both() -> None:
    assert set(field_errors({"kind": "interval"})) == {"every", "unit"}


def test_parse_once_with_datetime_and_string() -> None:
    at = datetime(2031, 1, 1, 12, 0, tzinfo=BERLIN)
    schedule = parse({"kind": "once", "at": at, "timezone": "Europe/Berlin"}, now=NOW)
    assert schedule.at == at
    schedule = parse({"kind": "once", "at": "2031-01-01T11:00:00Z", "timezone": "Europe/Berlin"}, now=NOW)
    assert schedule.at == at
    assert schedule.at.tzinfo == BERLIN  # stored in the schedule's zone


@pytest.mark.parametrize("at", [NOW, NOW - timedelta(seconds=1), "2020-01-01T00:00:00+00:00"])
def test_parse_once_not_in_future(at: object) -> None:
    assert field_errors({"kind": "once", "at": at}) == {"at": ["Must be in the future."]}


@pytest.mark.parametrize("at", [datetime(2031, 1, 1, 12, 0), "2031-01-01T12:00:00"])
def test_parse_once_naive_is_error(at: object) -> None:
    fields = field_errors({"kind": "once", "at": at})
    assert list(fields) == ["at"]
    assert "UTC offset" in fields["at"][0]


@pytest.mark.parametrize("at", [None, "next tuesday", 12])
def test_parse_once_bad_at(at: object) -> None:
    assert list(field_errors({"kind": "once", "at": at})) == ["at"]


def test_parse_missing_or_unknown_kind() -> None:
    fields = field_errors({"cron": "0 9 * * 1"})
    assert list(fields) == ["kind"]
    assert "interval, cron, once" in fields["kind"][0]
    assert field_errors({"kind": "weekly"}) == {"kind": ["Must be one of: interval, cron, once."]}


def test_parse_requires_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse({"kind": "cron", "cron": "0 9 * * 1"}, now=datetime(2025, 1, 1))


# --------------------------------------------------------------------------
# Fire times: once and interval
# --------------------------------------------------------------------------


def test_once_fire_times() -> None:
    at = datetime(2031, 1, 1, 12, 0, tzinfo=BERLIN)
    schedule = parse({"kind": "once", "at": at, "timezone": "Europe/Berlin"}, now=NOW)
    assert next_fire_times(schedule, after=NOW, count=5) == [at]
    assert next_fire_times(schedule, after=at, count=5) == []  # strictly after
    assert next_fire_time(schedule, after=at - timedelta(microseconds=1)) == at
    assert next_fire_time(schedule, after=at) is None


def test_interval_is_anchored() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = parse({"kind": "interval", "every": 15, "unit": "minutes"}, now=anchor, anchor=anchor)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 11, 1)) == utc(2025, 1, 1, 11, 15, 7)
    assert next_fire_times(schedule, after=utc(2025, 1, 1, 11, 1), count=3) == [
        utc(2025, 1, 1, 11, 15, 7),
        utc(2025, 1, 1, 11, 30, 7),
        utc(2025, 1, 1, 11, 45, 7),
    ]


def test_interval_strictly_after() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = Schedule(kind="interval", every=15, unit="minutes", anchor=anchor)
    # Exactly on a slot -> the following slot.
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 11, 15, 7)) == utc(2025, 1, 1, 11, 30, 7)
    assert next_fire_time(schedule, after=anchor) == utc(2025, 1, 1, 10, 15, 7)
    # Before the anchor, the anchor itself is the first slot (nothing before it).
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0)) == anchor


def test_interval_is_exact_elapsed_time_across_dst() -> None:
    anchor = datetime(2025, 3, 29, 12, 0, tzinfo=BERLIN)  # 11:00 UTC
    schedule = Schedule(kind="interval", timezone="Europe/Berlin", every=1, unit="days", anchor=anchor)
    times = next_fire_times(schedule, after=anchor, count=2)
    assert as_utc(times) == [utc(2025, 3, 30, 11, 0), utc(2025, 3, 31, 11, 0)]
    # ...which shows as 13:00 CEST on the wall clock after spring-forward.
    assert times[0].hour == 13
    assert times[0].tzinfo == BERLIN


def test_interval_hours_through_fall_back() -> None:
    anchor = utc(2025, 10, 25, 22, 0)
    schedule = Schedule(kind="interval", timezone="Europe/Berlin", every=30, unit="minutes", anchor=anchor)
    times = as_utc(next_fire_times(schedule, after=anchor, count=10))
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(times))


def test_next_fire_times_count() -> None:
    schedule = cron("0 9 * * 1")
    assert next_fire_times(schedule, after=NOW, count=0) == []
    assert len(next_fire_times(schedule, after=NOW, count=7)) == 7


def test_next_fire_times_requires_aware_after() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times(cron("0 9 * * 1"), after=datetime(2025, 1, 1), count=1)


# --------------------------------------------------------------------------
# Fire times: cron and DST
# --------------------------------------------------------------------------


def test_cron_weekly_in_timezone() -> None:
    schedule = cron("0 9 * * 1", "Europe/Berlin")
    times = next_fire_times(schedule, after=NOW, count=2)  # 2025-01-01 is a Wednesday
    assert times == [datetime(2025, 1, 6, 9, 0, tzinfo=BERLIN), datetime(2025, 1, 13, 9, 0, tzinfo=BERLIN)]
    assert times[0].tzinfo == BERLIN
    assert as_utc(times)[0] == utc(2025, 1, 6, 8, 0)


def test_cron_strictly_after() -> None:
    schedule = cron("0 9 * * *")
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0)) == utc(2025, 1, 2, 9, 0)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 8, 59, 59, 999999)) == utc(2025, 1, 1, 9, 0)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0, 0, 1)) == utc(2025, 1, 2, 9, 0)


def test_cron_day_of_week_seven_is_sunday() -> None:
    assert next_fire_time(cron("0 0 * * 7"), after=NOW) == utc(2025, 1, 5, 0, 0)


def test_berlin_spring_forward_fixed_time_fires_after_gap() -> None:
    schedule = cron("30 2 * * *", "Europe/Berlin")
    times = next_fire_times(schedule, after=utc(2025, 3, 28, 12, 0), count=3)
    assert as_utc(times) == [utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    assert (times[1].hour, times[1].minute) == (3, 0)  # 03:00 CEST


def test_berlin_fall_back_fixed_time_fires_once() -> None:
    schedule = cron("30 2 * * *", "Europe/Berlin")
    times = next_fire_times(schedule, after=utc(2025, 10, 25, 12, 0), count=2)
    assert as_utc(times) == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    window = slots_between(schedule, start=utc(2025, 10, 25, 22, 0), end=utc(2025, 10, 26, 4, 0))
    assert as_utc(window) == [utc(2025, 10, 26, 0, 30)]


def test_berlin_fall_back_after_inside_second_copy_of_hour() -> None:
    # `after` = 02:15 CET (second 02:xx).  02:30 already fired in the first
    # copy (00:30 UTC); it must not fire at 02:30 CET nor return a past time.
    schedule = cron("30 2 * * *", "Europe/Berlin")
    assert next_fire_time(schedule, after=utc(2025, 10, 26, 1, 15)) == utc(2025, 10, 27, 1, 30)


def test_new_york_spring_forward_fixed_time() -> None:
    schedule = cron("30 2 * * *", "America/New_York")
    times = next_fire_times(schedule, after=utc(2025, 3, 8, 12, 0), count=2)
    assert as_utc(times) == [utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30)]  # 03:00 EDT, then 02:30 EDT
    assert times[0] == datetime(2025, 3, 9, 3, 0, tzinfo=NEW_YORK)


def test_new_york_fall_back_fixed_time_fires_once() -> None:
    schedule = cron("30 1 * * *", "America/New_York")
    times = slots_between(schedule, start=utc(2025, 11, 1, 0, 0), end=utc(2025, 11, 3, 12, 0))
    assert as_utc(times) == [utc(2025, 11, 1, 5, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]


def test_berlin_fall_back_wildcard_fires_every_real_instant() -> None:
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 10, 25, 23, 50), end=utc(2025, 10, 26, 2, 50))
    utc_times = as_utc(times)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    two_oclock = [t for t in times if t.hour == 2]
    assert len(two_oclock) == 8  # 4 in 02:xx CEST + 4 in 02:xx CET
    assert [t.utcoffset() for t in two_oclock] == [timedelta(hours=2)] * 4 + [timedelta(hours=1)] * 4


def test_berlin_spring_forward_wildcard_keeps_15_minute_spacing() -> None:
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 3, 29, 23, 50), end=utc(2025, 3, 30, 2, 50))
    utc_times = as_utc(times)
    assert utc_times[0] == utc(2025, 3, 30, 0, 0)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    assert not [t for t in times if t.hour == 2]  # no 02:xx local times that day
    assert len(times) == 12


def test_new_york_wildcard_through_both_transitions() -> None:
    schedule = cron("*/15 * * * *", "America/New_York")
    for start in (utc(2025, 3, 9, 5, 50), utc(2025, 11, 2, 4, 50)):
        utc_times = as_utc(slots_between(schedule, start=start, end=start + timedelta(hours=4)))
        assert len(utc_times) == 16
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    fall = slots_between(schedule, start=utc(2025, 11, 2, 4, 50), end=utc(2025, 11, 2, 8, 50))
    assert len([t for t in fall if t.hour == 1]) == 8


def test_after_given_in_schedule_zone_inside_fold() -> None:
    # `after` = 02:45 CEST, passed in the schedule's own zone: the next slot is
    # 02:00 CET (fold=1), which has an *earlier* wall clock but is later in time.
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    after = datetime(2025, 10, 26, 2, 45, tzinfo=BERLIN)
    nxt = next_fire_time(schedule, after=after)
    assert nxt is not None
    assert nxt.astimezone(UTC) == utc(2025, 10, 26, 1, 0)
    assert (nxt.hour, nxt.minute, nxt.fold) == (2, 0, 1)


def test_hourly_cron_fires_in_both_repeated_hours() -> None:
    schedule = cron("0 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 10, 25, 23, 30), end=utc(2025, 10, 26, 2, 30))
    assert as_utc(times) == [utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 2, 0)]


def test_fixed_hour_range_over_gap_does_not_duplicate() -> None:
    schedule = cron("0 1-3 * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 3, 29, 12, 0), end=utc(2025, 3, 30, 12, 0))
    # 01:00 CET, then 02:00 (skipped) and 03:00 collapse into one 03:00 CEST.
    assert as_utc(times) == [utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 0)]


# --------------------------------------------------------------------------
# slots_between
# --------------------------------------------------------------------------


def test_slots_between_bounds_are_exclusive_inclusive() -> None:
    schedule = cron("0 * * * *")
    times = slots_between(schedule, start=utc(2025, 1, 1, 9, 0), end=utc(2025, 1, 1, 12, 0))
    assert times == [utc(2025, 1, 1, 10, 0), utc(2025, 1, 1, 11, 0), utc(2025, 1, 1, 12, 0)]


def test_slots_between_limit_and_empty() -> None:
    schedule = cron("* * * * *")
    assert len(slots_between(schedule, start=NOW, end=NOW + timedelta(days=1), limit=10)) == 10
    assert slots_between(schedule, start=NOW, end=NOW) == []
    assert slots_between(schedule, start=NOW, end=NOW - timedelta(hours=1)) == []


def test_slots_between_interval_and_once() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    interval = Schedule(kind="interval", every=15, unit="minutes", anchor=anchor)
    assert slots_between(interval, start=utc(2025, 1, 1, 10, 0), end=utc(2025, 1, 1, 10, 30, 7)) == [
        utc(2025, 1, 1, 10, 0, 7),
        utc(2025, 1, 1, 10, 15, 7),
        utc(2025, 1, 1, 10, 30, 7),
    ]
    once = Schedule(kind="once", at=utc(2031, 1, 1, 12, 0))
    assert slots_between(once, start=NOW, end=utc(2031, 1, 1, 12, 0)) == [utc(2031, 1, 1, 12, 0)]
    assert slots_between(once, start=NOW, end=utc(2031, 1, 1, 11, 59)) == []


def test_slots_between_counts_a_day_of_15_minute_slots() -> None:
    schedule = parse_phrase("every 15 minutes", now=NOW)
    assert len(slots_between(schedule, start=NOW, end=NOW + timedelta(days=1))) == 96


# --------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# to_dict / from_dict
# --------------------------------------------------------------------------


def test_to_dict_shapes() -> None:
    assert to_dict(cron("0 9 * * 1", "Europe/Berlin")) == {
        "kind": "cron",
        "timezone": "Europe/Berlin",
        "cron": "0 9 * * 1",
    }
    interval = parse(
        {"kind": "interval", "every": 15, "unit": "minutes", "timezone": "Europe/Berlin"},
        now=NOW,
        anchor=utc(2025, 1, 1, 10, 0, 7),
    )
    assert to_dict(interval) == {
        "kind": "interval",
        "timezone": "Europe/Berlin",
        "every": 15,
        "unit": "minutes",
        "anchor": "2025-01-01T11:00:07+01:00",
    }
    once = parse_phrase("on 2031-07-01 at 12:00", timezone="Europe/Berlin", now=NOW)
    assert to_dict(once) == {
        "kind": "once",
        "timezone": "Europe/Berlin",
        "at": "2031-07-01T12:00:00+02:00",
        "phrase": "on 2031-07-01 at 12:00",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "cron", "cron": "*/15 * * * *", "timezone": "America/New_York"},
        {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
        {"phrase": "every 15 minutes", "timezone": "Europe/Berlin"},
        {"kind": "interval", "every": 2, "unit": "hours"},
        {"kind": "once", "at": "2031-01-01T12:00:00.250000+00:00", "timezone": "Asia/Kolkata"},
        {"phrase": "on 2025-11-02 at 01:30", "timezone": "America/New_York"},
    ],
)
def test_round_trip(data: dict) -> None:
    schedule = parse(data, now=NOW, anchor=utc(2025, 1, 1, 10, 0, 7))
    rebuilt = from_dict(to_dict(schedule))
    assert rebuilt == schedule
    assert to_dict(rebuilt) == to_dict(schedule)
    assert as_utc(next_fire_times(rebuilt, after=NOW, count=5)) == as_utc(next_fire_times(schedule, after=NOW, count=5))


def test_round_trip_keeps_fold() -> None:
    # 01:30 EST (the second 01:30) must survive serialization.
    at = datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=NEW_YORK)
    schedule = parse({"kind": "once", "at": at, "timezone": "America/New_York"}, now=NOW)
    rebuilt = from_dict(to_dict(schedule))
    assert rebuilt.at.astimezone(UTC) == utc(2025, 11, 2, 6, 30)
    assert to_dict(rebuilt)["at"] == "2025-11-02T01:30:00-05:00"


def test_from_dict_skips_future_and_minimum_checks() -> None:
    once = from_dict({"kind": "once", "at": "2020-01-01T00:00:00+00:00", "timezone": "UTC"})
    assert once.at == utc(2020, 1, 1)
    assert next_fire_time(once, after=NOW) is None
    interval = from_dict(
        {"kind": "interval", "every": 1, "unit": "seconds", "anchor": "2025-01-01T00:00:00+00:00", "timezone": "UTC"}
    )
    assert interval.interval_seconds == 1


def test_from_dict_does_not_reparse_phrase() -> None:
    # The normalized fields are the truth; the phrase is kept as text only.
    schedule = from_dict({"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC", "phrase": "legacy words"})
    assert (schedule.cron, schedule.phrase) == ("0 9 * * 1", "legacy words")


def test_from_dict_rejects_broken_data() -> None:
    with pytest.raises(ScheduleError) as info:
        from_dict({"kind": "interval", "every": 5, "unit": "minutes", "timezone": "UTC"})
    assert "anchor" in info.value.fields
    with pytest.raises(ScheduleError):
        from_dict({"kind": "cron", "cron": "99 * * * *", "timezone": "UTC"})
