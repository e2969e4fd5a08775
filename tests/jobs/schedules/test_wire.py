"""Tests for jobs.schedules.wire: parse() of the wire-format dict, and to_dict()/from_dict()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedules import ScheduleError, from_dict, next_fire_time, next_fire_times, parse, parse_phrase, to_dict
from tests.jobs.schedules.conftest import BERLIN, NEW_YORK, NOW, as_utc, cron, field_errors, utc

# --------------------------------------------------------------------------
# parse(): valid dicts and errors
# --------------------------------------------------------------------------


def test_parse_timezone_defaults_to_utc() -> None:
    assert parse({"kind": "cron", "cron": "0 9 * * 1"}, now=NOW).timezone == "UTC"
    assert parse({"kind": "cron", "cron": "0 9 * * 1", "timezone": None}, now=NOW).timezone == "UTC"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("europe/berlin", "Europe/Berlin"), ("AMERICA/NEW_YORK", "America/New_York"), (" utc ", "UTC"), ("Utc", "UTC")],
)
def test_parse_a_timezone_in_any_case_is_stored_as_its_iana_name(typed: str, stored: str) -> None:
    schedule = parse({"kind": "cron", "cron": "0 9 * * 1", "timezone": typed}, now=NOW)
    assert schedule.timezone == stored
    assert to_dict(schedule)["timezone"] == stored
    assert parse_phrase("every monday at 09:00", timezone=typed, now=NOW).timezone == stored


@pytest.mark.parametrize("tz", ["Mars/Base", "", "localtime", "LOCALTIME", "factory", "Europe", "../etc/passwd", 5])
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


# --------------------------------------------------------------------------
# Bounds: every accepted schedule computes real instants (no OverflowError)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phrase": "every 1000000 days"}, "phrase"),
        ({"phrase": "every 3651 days"}, "phrase"),
        ({"kind": "interval", "every": 2**62, "unit": "seconds"}, "every"),
        ({"kind": "interval", "every": 10**12, "unit": "days"}, "every"),
        ({"phrase": "on 9999-12-31 at 23:59", "timezone": "America/New_York"}, "phrase"),
        ({"kind": "once", "at": "9999-12-31T23:59:00-05:00"}, "at"),
        ({"kind": "once", "at": "9999-01-01T00:00:00+00:00"}, "at"),
    ],
)
def test_parse_refuses_schedules_beyond_the_computable_range(data: dict, field: str) -> None:
    errors = field_errors(data)
    assert list(errors) == [field]
    assert "3650 days" in errors[field][0] or "9998-12-31" in errors[field][0]


@pytest.mark.parametrize(
    "data",
    [
        {"phrase": "every 3650 days"},
        {"kind": "interval", "every": 3650 * 86400, "unit": "seconds"},
        {"kind": "once", "at": "9998-12-31T23:59:00+00:00"},
        {"phrase": "on 9998-12-31 at 12:00", "timezone": "America/New_York"},
    ],
)
def test_parse_accepts_the_edges_and_computes_them(data: dict) -> None:
    schedule = parse(data, now=NOW)
    (first,) = next_fire_times(schedule, after=NOW, count=1)
    assert first.utcoffset() is not None
