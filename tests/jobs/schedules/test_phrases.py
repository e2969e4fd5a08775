"""Tests for jobs.schedules.phrases: English phrases, through parse_phrase() and parse()."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.schedules import (
    UNITS,
    Schedule,
    ScheduleError,
    describe,
    from_dict,
    next_fire_times,
    parse,
    parse_phrase,
    phrases,
    to_dict,
)
from tests.jobs.schedules.conftest import BERLIN, NOW, as_utc, field_errors, utc

README = Path(__file__).resolve().parents[3] / "README.md"

# The README's phrase table, row by row: (family, phrase, what is stored, what describe() says),
# each read in UTC at NOW (2025-01-01 12:00 UTC, a Wednesday).
PHRASE_TABLE = [
    (
        "lists of days and times",
        "every tuesday and thursday at 14:00",
        "`0 14 * * 2,4`",
        "Every Tuesday and Thursday at 14:00 (UTC)",
    ),
    ("lists of days and times", "every day at 9am and 5pm", "`0 9,17 * * *`", "Every day at 09:00 and 17:00 (UTC)"),
    ("lists of days and times", "twice a day", "`0 0,12 * * *`", "Every day at 00:00 and 12:00 (UTC)"),
    (
        "lists of days and times",
        "every 1st and 15th of the month at 8:00",
        "`0 8 1,15 * *`",
        "Every 1st and 15th of the month at 08:00 (UTC)",
    ),
    ("weekends and work days", "every weekend at 10am", "`0 10 * * 0,6`", "Every Saturday and Sunday at 10:00 (UTC)"),
    ("weekends and work days", "every workday", "`0 0 * * 1-5`", "Every weekday at 00:00 (UTC)"),
    ("weekends and work days", "every business day at 8:30", "`30 8 * * 1-5`", "Every weekday at 08:30 (UTC)"),
    ("plain periods", "hourly", "`0 * * * *`", "Every hour (UTC)"),
    ("plain periods", "daily", "`0 0 * * *`", "Every day at 00:00 (UTC)"),
    ("plain periods", "weekly", "`0 0 * * 0`", "Every Sunday at 00:00 (UTC)"),
    ("plain periods", "monthly", "`0 0 1 * *`", "Every 1st of the month at 00:00 (UTC)"),
    ("plain periods", "yearly", "`0 0 1 1 *`", "Every year on January 1st at 00:00 (UTC)"),
    ("plain periods", "every week", "`0 0 * * 0`", "Every Sunday at 00:00 (UTC)"),
    ("plain periods", "every month", "`0 0 1 * *`", "Every 1st of the month at 00:00 (UTC)"),
    ("abbreviations", "every 5 min", "`*/5 * * * *`", "Every 5 minutes (UTC)"),
    ("abbreviations", "every 10m", "`*/10 * * * *`", "Every 10 minutes (UTC)"),
    ("abbreviations", "every 2h", "`0 */2 * * *`", "Every 2 hours (UTC)"),
    ("abbreviations", "every thurs", "`0 0 * * 4`", "Every Thursday at 00:00 (UTC)"),
    ("abbreviations", "every tue", "`0 0 * * 2`", "Every Tuesday at 00:00 (UTC)"),
    ("steps", "every 15 minutes", "`*/15 * * * *`", "Every 15 minutes (UTC)"),
    ("steps", "every hour", "`0 * * * *`", "Every hour (UTC)"),
    ("steps", "every 1 hour", "`0 * * * *`", "Every hour (UTC)"),
    ("steps", "every 90 minutes", "interval of 90 minutes", "Every 90 minutes, counted from 2025-01-01 12:00 (UTC)"),
    ("steps", "every 30 seconds", "interval of 30 seconds", "Every 30 seconds, counted from 2025-01-01 12:00 (UTC)"),
    ("multiples", "every other day", "interval of 2 days", "Every 2 days, counted from 2025-01-01 12:00 (UTC)"),
    (
        "multiples",
        "every 2 weeks on monday at 9:00",
        "interval of 14 days",
        "Every 2 weeks, counted from Monday 2025-01-06 09:00 (UTC)",
    ),
    ("multiples", "every 2 days at 10:00", "interval of 2 days", "Every 2 days, counted from 2025-01-02 10:00 (UTC)"),
    (
        "nth and last weekday or day",
        "first monday of every month at 9am",
        "`0 9 * * 1#1`",
        "On the first Monday of every month at 09:00 (UTC)",
    ),
    (
        "nth and last weekday or day",
        "last friday of the month at 17:00",
        "`0 17 * * 5l`",
        "On the last Friday of every month at 17:00 (UTC)",
    ),
    (
        "nth and last weekday or day",
        "every 2nd tuesday of the month",
        "`0 0 * * 2#2`",
        "On the second Tuesday of every month at 00:00 (UTC)",
    ),
    (
        "nth and last weekday or day",
        "on the last day of every month",
        "`0 0 l * *`",
        "On the last day of every month at 00:00 (UTC)",
    ),
    ("windows", "every 15 minutes on weekdays", "`*/15 * * * 1-5`", "Every 15 minutes on weekdays (UTC)"),
    ("windows", "every 5 minutes between 9am and 5pm", "`*/5 9-16 * * *`", "Every 5 minutes from 09:00 to 16:55 (UTC)"),
    ("windows", "every 2 hours between 8am and 6pm", "`0 8-17/2 * * *`", "Every 2 hours from 08:00 to 16:00 (UTC)"),
    ("time first", "at 9am every day", "`0 9 * * *`", "Every day at 09:00 (UTC)"),
    ("time first", "9am daily", "`0 9 * * *`", "Every day at 09:00 (UTC)"),
    ("time first", "noon every day", "`0 12 * * *`", "Every day at 12:00 (UTC)"),
    ("time first", "at 17:30 on fridays", "`30 17 * * 5`", "Every Friday at 17:30 (UTC)"),
    (
        "a zone in the phrase",
        "every monday at 09:00 Europe/Berlin",
        "`0 9 * * 1`",
        "Every Monday at 09:00 (Europe/Berlin)",
    ),
    ("a zone in the phrase", "daily at 8am UTC", "`0 8 * * *`", "Every day at 08:00 (UTC)"),
    ("one-offs", "tomorrow at 10am", "once at 2025-01-02T10:00:00+00:00", "Once on 2025-01-02 at 10:00 (UTC)"),
    ("one-offs", "in 5 minutes", "once at 2025-01-01T12:05:00+00:00", "Once on 2025-01-01 at 12:05 (UTC)"),
    ("one-offs", "2031-01-01 12:00", "once at 2031-01-01T12:00:00+00:00", "Once on 2031-01-01 at 12:00 (UTC)"),
    ("one-offs", "on 2031-01-01 at 12:00", "once at 2031-01-01T12:00:00+00:00", "Once on 2031-01-01 at 12:00 (UTC)"),
]


def _stored(schedule: Schedule) -> str:
    if schedule.kind == "cron":
        return f"`{schedule.cron}`"
    if schedule.kind == "interval":
        return f"interval of {schedule.every} {schedule.unit}"
    assert schedule.at is not None
    return f"once at {schedule.at.isoformat()}"


@pytest.mark.parametrize(("family", "phrase", "stored", "meaning"), PHRASE_TABLE, ids=[row[1] for row in PHRASE_TABLE])
def test_every_readme_example_phrase(family: str, phrase: str, stored: str, meaning: str) -> None:
    schedule = parse_phrase(phrase, now=NOW)
    assert (_stored(schedule), describe(schedule)) == (stored, meaning)
    # A relative one-off is kept as its instant only: its words would name another instant later.
    relative = family == "one-offs" and phrase.split()[0] in ("tomorrow", "today", "in")
    assert schedule.phrase == (None if relative else phrase)


def test_the_readme_table_is_the_tested_table() -> None:
    text = README.read_text()
    table = text[text.index("<!-- phrase-table:start -->") : text.index("<!-- phrase-table:end -->")]
    rows, family = [], ""
    for line in table.splitlines()[3:]:  # the marker, the header and its rule
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        family = cells[0] or family
        rows.append((family, cells[1].strip("`"), cells[2], cells[3]))
    assert rows == PHRASE_TABLE


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
            'Could not understand "at" in "every 15th at 9am". Did you mean "every 15th of the month at 9am"?',
        ),
        (
            "every first monday at 9am",
            'Could not understand "at" in "every first monday at 9am". '
            'Did you mean "every first monday of the month at 9am"?',
        ),
        (
            "first monday of",
            '"first monday of" stops before it is complete. Try a phrase like "every 1st of the month at 09:00".',
        ),
        (
            "in a while",
            'Could not understand "a" in "in a while". Try a phrase like "in 5 minutes".',
        ),
        ("in 5 parsecs", 'Could not understand "parsecs" in "in 5 parsecs". Try a phrase like "in 5 minutes".'),
        (
            "in 5 minutes sharp",
            'Could not understand "sharp" in "in 5 minutes sharp". Try a phrase like "in 5 minutes".',
        ),
        (
            "tomorrow at teatime",
            'Could not understand "teatime" in "tomorrow at teatime". Try a phrase like "tomorrow at 10am".',
        ),
        (
            "every day at teatime",
            'Could not understand "teatime" in "every day at teatime". Try a phrase like "every monday at 09:00".',
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


@pytest.mark.parametrize(
    ("phrase", "cron", "text"),
    [
        ("every hour on weekdays", "0 * * * 1-5", "Every hour on weekdays (UTC)"),
        (
            "every 10 minutes between 9am and 5pm on weekdays",
            "*/10 9-16 * * 1-5",
            "Every 10 minutes from 09:00 to 16:50 on weekdays (UTC)",
        ),
        (
            "every 20 minutes from 8am to 6pm on mondays and fridays",
            "*/20 8-17 * * 1,5",
            "Every 20 minutes from 08:00 to 17:40 on Mondays and Fridays (UTC)",
        ),
        ("hourly between 9 and 17", "0 9-16 * * *", "Every hour from 09:00 to 16:00 (UTC)"),
        ("every 8 hours between 6am and 10pm", "0 6-21/8 * * *", "Every 8 hours from 06:00 to 14:00 (UTC)"),
        (
            "every 15 minutes on the 1st and 15th",
            "*/15 * 1,15 * *",
            "Every 15 minutes on the 1st and 15th of every month (UTC)",
        ),
        (
            "every hour on the last friday of the month",
            "0 * * * 5l",
            "Every hour on the last Friday of every month (UTC)",
        ),
        ("twice daily at 9am and 9pm", "0 9,21 * * *", "Every day at 09:00 and 21:00 (UTC)"),
        ("twice a day on weekdays", "0 0,12 * * 1-5", "Every weekday at 00:00 and 12:00 (UTC)"),
        ("on weekdays at 9:00 and 9:30", "0,30 9 * * 1-5", "Every weekday at 09:00 and 09:30 (UTC)"),
        (
            "every monday, wednesday and friday at 9",
            "0 9 * * 1,3,5",
            "Every Monday, Wednesday and Friday at 09:00 (UTC)",
        ),
        ("every sat and sun at 7am", "0 7 * * 0,6", "Every Saturday and Sunday at 07:00 (UTC)"),
        ("every weekend day at 7am", "0 7 * * 0,6", "Every Saturday and Sunday at 07:00 (UTC)"),
        ("every work day at 7am", "0 7 * * 1-5", "Every weekday at 07:00 (UTC)"),
        ("weekly on monday at 9", "0 9 * * 1", "Every Monday at 09:00 (UTC)"),
        ("monthly on the 15th at 9am", "0 9 15 * *", "Every 15th of the month at 09:00 (UTC)"),
        ("monthly on the first monday at 9am", "0 9 * * 1#1", "On the first Monday of every month at 09:00 (UTC)"),
        ("every month on the last day at 18:00", "0 18 l * *", "On the last day of every month at 18:00 (UTC)"),
        ("the 3rd friday of the month at noon", "0 12 * * 5#3", "On the third Friday of every month at 12:00 (UTC)"),
        ("annually", "0 0 1 1 *", "Every year on January 1st at 00:00 (UTC)"),
        ("every day at noon and midnight", "0 0,12 * * *", "Every day at 00:00 and 12:00 (UTC)"),
        ("every 3 hours", "0 */3 * * *", "Every 3 hours (UTC)"),
    ],
)
def test_combined_clauses(phrase: str, cron: str, text: str) -> None:
    schedule = parse_phrase(phrase, now=NOW)
    assert (schedule.cron, describe(schedule)) == (cron, text)


# --- clock alignment, windows, nth weekdays: the fire times say what the phrase says ------------------


def fires(phrase: str, count: int, *, after: datetime = NOW, timezone: str = "UTC") -> list[datetime]:
    return as_utc(next_fire_times(parse_phrase(phrase, timezone=timezone, now=NOW), after=after, count=count))


def test_every_15_minutes_fires_on_the_quarter_hours() -> None:
    assert fires("every 15 minutes", 3, after=utc(2025, 1, 1, 12, 7, 30)) == [
        utc(2025, 1, 1, 12, 15),
        utc(2025, 1, 1, 12, 30),
        utc(2025, 1, 1, 12, 45),
    ]


def test_every_hour_and_every_1_hour_are_the_same_schedule() -> None:
    hour, one_hour = parse_phrase("every hour", now=NOW), parse_phrase("every 1 hour", now=NOW)
    assert (hour.kind, hour.cron) == (one_hour.kind, one_hour.cron) == ("cron", "0 * * * *")


def test_a_window_does_not_include_its_end() -> None:
    times = fires("every 5 minutes between 9am and 5pm", 12, after=utc(2025, 1, 1, 16, 0))
    assert times[10:] == [utc(2025, 1, 1, 16, 55), utc(2025, 1, 2, 9, 0)]


def test_a_window_may_wrap_past_midnight() -> None:
    assert fires("every hour between 10pm and 2am", 5) == [
        utc(2025, 1, 1, 22),
        utc(2025, 1, 1, 23),
        utc(2025, 1, 2, 0),
        utc(2025, 1, 2, 1),
        utc(2025, 1, 2, 22),
    ]


def test_nth_and_last_weekday_and_last_day_fire_on_those_days() -> None:
    assert fires("first monday of every month at 9am", 3) == [
        utc(2025, 1, 6, 9),
        utc(2025, 2, 3, 9),
        utc(2025, 3, 3, 9),
    ]
    assert fires("last friday of the month at 17:00", 2) == [utc(2025, 1, 31, 17), utc(2025, 2, 28, 17)]
    assert fires("every second tuesday of the month", 2) == [utc(2025, 1, 14), utc(2025, 2, 11)]
    assert fires("on the last day of every month", 3) == [utc(2025, 1, 31), utc(2025, 2, 28), utc(2025, 3, 31)]


def test_weekend_means_saturday_and_sunday() -> None:
    assert fires("every weekend at 10am", 3) == [utc(2025, 1, 4, 10), utc(2025, 1, 5, 10), utc(2025, 1, 11, 10)]


def test_multiples_with_a_time_start_at_the_next_such_time_and_keep_it() -> None:
    schedule = parse_phrase("every 2 weeks on monday at 9:00", timezone="Asia/Tokyo", now=NOW)
    assert (schedule.kind, schedule.every, schedule.unit) == ("interval", 14, "days")
    times = next_fire_times(schedule, after=NOW, count=3)
    assert [t.isoformat() for t in times] == [
        "2025-01-06T09:00:00+09:00",
        "2025-01-20T09:00:00+09:00",
        "2025-02-03T09:00:00+09:00",
    ]
    assert describe(schedule) == "Every 2 weeks, counted from Monday 2025-01-06 09:00 (Asia/Tokyo)"


@pytest.mark.parametrize(
    "phrase", ["every 2 days at 10:00", "every 2 weeks on monday at 9:00", "every other day at 8am"]
)
def test_multiples_with_a_time_are_refused_where_daylight_saving_would_move_them(phrase: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, timezone="Europe/Berlin", now=NOW)
    message = info.value.fields["phrase"][0]
    assert "daylight saving changes in Europe/Berlin" in message
    assert "every day at" in message


def test_a_multiple_without_a_time_is_counted_from_now_in_any_zone() -> None:
    schedule = parse_phrase("every other day", timezone="Europe/Berlin", now=NOW)
    assert (schedule.kind, schedule.every, schedule.unit, schedule.anchor) == ("interval", 2, "days", NOW)


# --- what is refused rather than guessed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "fragment"),
    [
        ("every day at 9:00 and 17:30", "The times 09:00 and 17:30 cannot be one schedule"),
        ("every 7 minutes on weekdays", 'cannot be limited to "on weekdays"'),
        ("every 90 minutes between 9am and 5pm", "does not divide the hour or the day"),
        ("every 15 minutes at 9am", 'so "at 9am" does not fit'),
        ("between 9am and 5pm", 'e.g. "every 15 minutes between 9am and 5pm"'),
        ("every 5 minutes between 9:30am and 5pm", "must start and end on the hour"),
        ("every 5 minutes between 9am and 9am", "empty window"),
        ("monthly on monday", "is ambiguous"),
        ("every day on weekdays", "both say the days"),
        ("every monday on fridays", '"every monday" and "on fridays" both say the days'),
        ("daily at 9am at 5pm", "both say the times"),
        ("yearly on the 15th", '"yearly" runs on January 1st'),
        ("weekly on the 15th", "do not fit together"),
        ("twice a day at 9am", "needs two times"),
        ("every 2 days on monday", "do not fit together"),
        ("every 3 weeks on monday and friday at 9:00", "say one day"),
        ("every monday at 09:00 Mars/Base", 'Unknown time zone "Mars/Base"'),
        ("every monday at 09:00 Europe/Berlni", 'did you mean "Europe/Berlin"?'),
        ("every monday at 09:00 EST", '"EST" is an abbreviation, not a time zone'),
        ("every 32nd of the month at 00:00", "Day of month 32 is out of range (allowed 1st-31st)."),
    ],
)
def test_refused_with_a_reason(phrase: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=NOW)
    assert list(info.value.fields) == ["phrase"]
    assert fragment in info.value.fields["phrase"][0]


def test_an_aligned_step_still_respects_the_minimum_interval() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase("every 2 minutes", now=NOW, min_interval_seconds=300)
    assert info.value.fields == {"phrase": ["Interval must be at least 300 seconds; got 120 seconds."]}


# --- a zone inside the phrase ------------------------------------------------------------------------


def test_a_zone_in_the_phrase_sets_the_zone_when_none_is_given() -> None:
    schedule = parse({"phrase": "every monday at 09:00 Europe/Berlin"}, now=NOW)
    assert (schedule.cron, schedule.timezone) == ("0 9 * * 1", "Europe/Berlin")
    assert schedule.phrase == "every monday at 09:00 Europe/Berlin"
    assert parse_phrase("daily at 8am in america/new_york", now=NOW).timezone == "America/New_York"


def test_a_zone_in_the_phrase_that_agrees_with_the_field_is_fine() -> None:
    schedule = parse({"phrase": "daily at 8am UTC", "timezone": "utc"}, now=NOW)
    assert (schedule.cron, schedule.timezone) == ("0 8 * * *", "UTC")


@pytest.mark.parametrize("via_parse", [True, False])
def test_a_zone_in_the_phrase_that_conflicts_with_the_field_names_both(via_parse: bool) -> None:
    phrase = "every monday at 09:00 Europe/Berlin"
    with pytest.raises(ScheduleError) as info:
        if via_parse:
            parse({"phrase": phrase, "timezone": "UTC"}, now=NOW)
        else:
            parse_phrase(phrase, timezone="UTC", now=NOW)
    assert info.value.fields == {
        "phrase": [
            'The phrase says time zone "Europe/Berlin" but the time zone field says "UTC"; '
            "give the zone in one place, or make them agree."
        ]
    }


def test_a_zone_field_that_is_no_zone_is_reported_alone() -> None:
    fields = field_errors({"phrase": "daily at 8am Europe/Berlin", "timezone": "Mars/Base"})
    assert fields == {"timezone": ['Unknown time zone "Mars/Base"; use an IANA name such as "Europe/Berlin".']}


# --- one-offs: resolved against `now` ---------------------------------------------------------------------


def test_one_offs_are_resolved_against_the_given_now() -> None:
    now = datetime(2030, 6, 1, 21, 30, 15, 123456, tzinfo=UTC)
    assert parse_phrase("tomorrow at 10am", now=now).at == utc(2030, 6, 2, 10)
    assert parse_phrase("today at 23:00", now=now).at == utc(2030, 6, 1, 23)
    assert parse_phrase("in 5 minutes", now=now).at == utc(2030, 6, 1, 21, 35, 15)  # whole seconds
    assert parse_phrase("in 2 hours", now=now).at == utc(2030, 6, 1, 23, 30, 15)
    assert parse_phrase("2031-01-01 12:00", timezone="Europe/Berlin", now=now).at == utc(2031, 1, 1, 11)


def test_tomorrow_is_the_next_day_in_the_schedules_zone() -> None:
    now = utc(2030, 6, 1, 21, 30)  # already 2 June in Tokyo
    schedule = parse_phrase("tomorrow at 10am", timezone="Asia/Tokyo", now=now)
    assert schedule.at.isoformat() == "2030-06-03T10:00:00+09:00"
    assert describe(schedule) == "Once on 2030-06-03 at 10:00 (Asia/Tokyo)"


def test_now_defaults_to_the_current_time() -> None:
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False):
        assert parse_phrase("in 5 minutes").at == utc(2030, 6, 1, 8, 5)
        assert parse_phrase("tomorrow at 10am Europe/Berlin").at == utc(2030, 6, 2, 8)


@pytest.mark.parametrize("phrase", ["today at 8am", "in 0 minutes", "2020-01-01 12:00"])
def test_one_offs_must_be_in_the_future(phrase: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_phrase(phrase, now=utc(2030, 6, 1, 9))
    message = info.value.fields["phrase"][0]
    assert "in the past" in message or "not in the future" in message


# --- any words: a schedule that reads back, or a ScheduleError, never another exception ------------------

_WORDS = [
    *phrases._VOCABULARY,
    *["0", "1", "2", "7", "15", "60", "99999999999999999999", "9am", "5pm", "17:30", "25:00", "1st", "15th"],
    *["2nd", "32nd", "2031-01-01", "2031-02-30", ",", "-5", "\u0665", "Europe/Berlin", "UTC", "EST", "Mars/Base"],
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8),
    zone=st.sampled_from([None, "UTC", "Europe/Berlin", "America/Santiago"]),
)
def test_any_words_give_a_schedule_or_a_schedule_error(words: list[str], zone: str | None) -> None:
    try:
        schedule = parse_phrase(" ".join(words), timezone=zone, now=NOW)
    except ScheduleError as exc:
        assert exc.fields and all(exc.fields.values())
        return
    assert describe(schedule)
    assert from_dict(to_dict(schedule)) == schedule  # what a phrase builds is valid stored data
    next_fire_times(schedule, after=NOW, count=2)
