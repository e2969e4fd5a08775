"""English phrases ("every monday at 09:00", "every 15 minutes") -> Schedule."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jobs.schedules.fire import _localize
from jobs.schedules.model import (
    INSTANT_RANGE_MESSAGE,
    UNITS,
    Schedule,
    ScheduleError,
    _instant_bounds_error,
    _interval_bounds_error,
    _load_zone,
    _require_aware,
    _ts,
    canonical_zone,
)

_PHRASE_EXAMPLE = "every monday at 09:00"

_DAY_NUMBERS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
_DAY_NUMBERS.update({name[:3]: num for name, num in list(_DAY_NUMBERS.items())})
_DAY_ALT = "|".join(sorted(_DAY_NUMBERS, key=len, reverse=True))

# `at <time>` is optional everywhere; a missing time means midnight. Patterns with digits are
# re.ASCII: `\d` would otherwise match other scripts' digits too.
_AT = r"(?: at (?P<time>.+))?"
_RE_INTERVAL = re.compile(r"^every (?P<n>\d+) (?P<unit>second|minute|hour|day)s?$", re.ASCII)
_RE_EVERY_UNIT = re.compile(r"^every (?P<unit>second|minute)$")
_RE_HOURLY = re.compile(r"^(?:hourly|every hour)$")
_RE_DAILY = re.compile(rf"^(?:daily|every day){_AT}$")
_RE_WEEKDAYS = re.compile(rf"^(?:every )?weekdays?{_AT}$")
_RE_DOW = re.compile(rf"^(?:every |on )?(?P<dow>{_DAY_ALT})s?{_AT}$")
_RE_MONTHLY = re.compile(
    rf"^(?:every |on )?(?:the )?(?P<day>\d{{1,2}})(?:st|nd|rd|th) of "
    rf"(?:the|each|every) month{_AT}$",
    re.ASCII,
)
_RE_ON_DATE = re.compile(rf"^on (?P<date>\d{{4}}-\d{{2}}-\d{{2}}){_AT}$", re.ASCII)
_RE_TIME = re.compile(r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?: ?(?P<ampm>am|pm))?$", re.ASCII)


def _phrase_error(message: str) -> ScheduleError:
    return ScheduleError.from_fields({"phrase": [message]})


def _parse_time(text: str | None) -> tuple[int, int]:
    """Parse "09:00", "9", "9am", "9:30 pm", "12am", "noon", "midnight" -> (h, m)."""
    if text is None or text == "midnight":
        return 0, 0
    if text == "noon":
        return 12, 0
    match = _RE_TIME.match(text)
    bad = _phrase_error(
        f'Time "{text}" is not valid; use HH:MM from 00:00 to 23:59, or a 12-hour time like "9am" or "9:30pm".'
    )
    if not match:
        raise bad
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if minute > 59:
        raise bad
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise bad
        # 12am is midnight and 12pm is noon; other pm hours add 12.
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    elif hour > 23:
        raise bad
    return hour, minute


def _parse_phrase(
    phrase: str,
    *,
    tz_name: str,
    tz: ZoneInfo,
    now: datetime,
    min_interval_seconds: int,
    anchor: datetime,
) -> Schedule:
    if not isinstance(phrase, str) or not phrase.strip():
        raise _phrase_error(f'Enter a schedule phrase such as "{_PHRASE_EXAMPLE}".')
    original = phrase.strip()
    text = " ".join(original.lower().split()).rstrip(".")

    def cron(expr: str) -> Schedule:
        return Schedule(kind="cron", timezone=tz_name, cron=expr, phrase=original)

    if match := _RE_EVERY_UNIT.match(text):
        if match["unit"] == "minute":
            # Bare "every minute" is wall-clock aligned like "every hour".
            return cron("* * * * *")
        # "every second" is the interval "every 1 seconds"; same minimum check.
        text = "every 1 seconds"
    if match := _RE_INTERVAL.match(text):
        # int() refuses more than 4300 digits; 19 are past the longest interval already.
        digits = match["n"]
        every, unit = int(digits) if len(digits) <= 19 else 10**19, match["unit"] + "s"
        total = every * UNITS[unit]
        message = (
            "Interval must be a positive whole number."
            if every <= 0
            else _interval_bounds_error(total, min_interval_seconds)
        )
        if message:
            raise _phrase_error(message)
        return Schedule(
            kind="interval",
            timezone=tz_name,
            every=every,
            unit=unit,
            anchor=anchor.astimezone(tz),
            phrase=original,
        )
    if _RE_HOURLY.match(text):
        # Wall-clock aligned (top of the hour), unlike "every 1 hour".
        return cron("0 * * * *")
    if match := _RE_DAILY.match(text):
        hour, minute = _parse_time(match["time"])
        return cron(f"{minute} {hour} * * *")
    if match := _RE_WEEKDAYS.match(text):
        hour, minute = _parse_time(match["time"])
        return cron(f"{minute} {hour} * * 1-5")
    if match := _RE_DOW.match(text):
        hour, minute = _parse_time(match["time"])
        return cron(f"{minute} {hour} * * {_DAY_NUMBERS[match['dow']]}")
    if match := _RE_MONTHLY.match(text):
        day = int(match["day"])
        if not 1 <= day <= 31:
            raise _phrase_error(f"Day of month {day} is out of range (allowed 1st-31st).")
        hour, minute = _parse_time(match["time"])
        return cron(f"{minute} {hour} {day} * *")
    if match := _RE_ON_DATE.match(text):
        try:
            day_value = date.fromisoformat(match["date"])
        except ValueError:
            raise _phrase_error(f'Date "{match["date"]}" is not a valid calendar date (use YYYY-MM-DD).') from None
        hour, minute = _parse_time(match["time"])
        try:
            at = _localize(datetime(day_value.year, day_value.month, day_value.day, hour, minute), tz)
            message = _instant_bounds_error(at)
        except OverflowError:
            message = INSTANT_RANGE_MESSAGE
        if message:
            raise _phrase_error(f'The time in "{original}": {message[0].lower()}{message[1:]}')
        if _ts(at) <= _ts(now):
            raise _phrase_error(f'The time in "{original}" is in the past; it must be in the future.')
        return Schedule(kind="once", timezone=tz_name, at=at, phrase=original)

    raise _phrase_error(f'Could not understand "{original}". Try a phrase like "{_PHRASE_EXAMPLE}".')


def parse_phrase(
    phrase: str,
    *,
    timezone: str = "UTC",
    now: datetime,
    min_interval_seconds: int = 10,
) -> Schedule:
    """Normalize an English phrase into an interval/cron/once Schedule.

    Errors are reported on "phrase" (and "timezone" for a bad zone), because
    the phrase is what the user typed.
    """
    _require_aware(now, "now")
    errors: dict[str, list[str]] = {}
    timezone = canonical_zone(timezone)
    try:
        tz = _load_zone(timezone)
    except ScheduleError as exc:
        errors.update(exc.fields)
        tz = None
    try:
        schedule = _parse_phrase(
            phrase,
            tz_name=timezone if tz else "UTC",
            tz=tz or ZoneInfo("UTC"),
            now=now,
            min_interval_seconds=min_interval_seconds,
            anchor=now,
        )
    except ScheduleError as exc:
        errors.update(exc.fields)
    if errors:
        raise ScheduleError.from_fields(errors)
    return schedule
