"""Tests for jobs.schedules.phrases: English phrases, through parse_phrase() and parse()."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from jobs.schedules import UNITS, ScheduleError, describe, parse, parse_phrase
from tests.jobs.schedules.conftest import BERLIN, NOW, field_errors, utc


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
        # Steps that divide the hour or the day line up with the clock.
        ("every 15 minutes", "*/15 * * * *"),
        ("EVERY  15  MINUTES", "*/15 * * * *"),
        ("every 1 minute", "* * * * *"),
        ("every 30 minutes", "*/30 * * * *"),
        ("every 60 minutes", "0 * * * *"),
        ("every 120 minutes", "0 */2 * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("every 12 hours", "0 */12 * * *"),
        ("every 1 day", "0 0 * * *"),
        ("every 1 week", "0 0 * * 0"),
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
        # Steps that do not divide the hour or the day stay exact intervals from "now".
        ("every 7 minutes", 7, "minutes"),
        ("every 90 minutes", 90, "minutes"),
        ("every 30 seconds", 30, "seconds"),
        ("every 10 seconds", 10, "seconds"),
        ("every 5 hours", 5, "hours"),
        ("every 24 hours", 24, "hours"),
        ("every 3 days", 3, "days"),
        ("every 2 weeks", 14, "days"),
        ("EVERY  7  MINUTES", 7, "minutes"),
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
    schedule = parse({"phrase": "every 7 minutes", "timezone": "Europe/Berlin"}, now=NOW, anchor=anchor)
    assert schedule.phrase == "every 7 minutes"
    assert schedule.anchor == anchor
    assert schedule.timezone == "Europe/Berlin"


def test_phrase_wins_over_kind_fields() -> None:
    schedule = parse({"phrase": "daily at 02:30", "kind": "cron", "cron": "0 9 * * 1"}, now=NOW)
    assert schedule.cron == "30 2 * * *"


def test_blank_phrase_is_ignored_when_kind_given() -> None:
    schedule = parse({"phrase": "  ", "kind": "cron", "cron": "0 9 * * 1"}, now=NOW)
    assert schedule.cron == "0 9 * * 1"
    assert schedule.phrase is None


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("evry tuesday", 'Could not understand "evry" in "evry tuesday". Did you mean "every tuesday"?'),
        (
            "every tuesdy at 9am",
            'Could not understand "tuesdy" in "every tuesdy at 9am". Did you mean "every tuesday at 9am"?',
        ),
        ("dayly at 9am", 'Could not understand "dayly" in "dayly at 9am". Did you mean "daily at 9am"?'),
        (
            "every blue moon",
            'Could not understand "blue" in "every blue moon". Try a phrase like "every monday at 09:00".',
        ),
        (
            "every -5 minutes",
            'Could not understand "-5" in "every -5 minutes". Try a phrase like "every 15 minutes".',
        ),
        # The time is fine; the word after it is what was not understood.
        (
            "every monday at 9am sharp",
            'Could not understand "sharp" in "every monday at 9am sharp". Try a phrase like "every monday at 09:00".',
        ),
        (
            "every fortnight",
            'Could not understand "fortnight" in "every fortnight". Try a phrase like "every monday at 09:00".',
        ),
        (
            "every 15th at 9am",
            'Could not understand "at" in "every 15th at 9am". Try a phrase like "every 1st of the month at 09:00".',
        ),
        (
            "first monday of",
            '"first monday of" stops before it is complete. Try a phrase like "every 1st of the month at 09:00".',
        ),
        (
            "in a while",
            'Could not understand "a" in "in a while". Try a phrase like "tomorrow at 10am".',
        ),
        # Digits of other scripts are not read as numbers.
        (
            "every \u0665 minutes",
            'Could not understand "\u0665" in "every \u0665 minutes". Try a phrase like "every 15 minutes".',
        ),
        (
            "every \u00b2 minutes",
            'Could not understand "\u00b2" in "every \u00b2 minutes". Try a phrase like "every 15 minutes".',
        ),
        (
            "on \u0662\u0660\u0663\u0661-01-01",
            'Could not understand "\u0662\u0660\u0663\u0661-01-01" in "on \u0662\u0660\u0663\u0661-01-01". '
            'Try a phrase like "every monday at 09:00".',
        ),
        # Understood, but not enough to act on: the message says what is missing.
        ("at 9", '"at 9" says a time but not which days; say e.g. "every day at 9" or "tomorrow at 9".'),
        ("tomorrow", '"tomorrow" needs a time, e.g. "tomorrow at 10am".'),
        (
            "every monday at",
            'A time is missing at the end; say one like "09:00" or "9am", e.g. "every monday at 09:00".',
        ),
    ],
)
def test_unknown_phrase_names_the_part_and_suggests_a_form(phrase: str, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=NOW)
    assert info.value.fields == {"phrase": [message]}


def test_unknown_phrase_message_through_parse() -> None:
    fields = field_errors({"phrase": "evry tuesday"})
    assert fields == {"phrase": ['Could not understand "evry" in "evry tuesday". Did you mean "every tuesday"?']}


@pytest.mark.parametrize(
    ("phrase", "time"),
    [
        ("daily at 25:00", "25:00"),
        ("daily at 12:60", "12:60"),
        ("weekdays at 13pm", "13pm"),
        ("weekdays at 0am", "0am"),
        ("daily at \u0669:00", "\u0669:00"),
        ("every monday at 9.30", "9.30"),
        ("every 5 minutes between 9am and 25:00", "25:00"),
        ("tomorrow at 24:00", "24:00"),
    ],
)
def test_phrase_bad_time(phrase: str, time: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=NOW)
    assert info.value.fields == {
        "phrase": [
            f'Time "{time}" is not valid; use HH:MM from 00:00 to 23:59, or a 12-hour time like "9am" or "9:30pm".'
        ]
    }


def test_an_interval_of_thousands_of_digits_is_out_of_range_not_an_error() -> None:
    # int() refuses more than 4300 digits: this was a ValueError (a 500).
    with pytest.raises(ScheduleError) as info:
        parse_phrase("every " + "9" * 5000 + " seconds", now=NOW)
    assert list(info.value.fields) == ["phrase"]
    assert "too long" in info.value.fields["phrase"][0] or "at most" in info.value.fields["phrase"][0]


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
        schedule = parse_phrase("every 7 minutes", now=now)
        assert schedule.anchor == datetime(2030, 6, 1, tzinfo=UTC)
        with pytest.raises(ScheduleError):
            parse_phrase("on 2030-05-31 at 23:00", now=now)
