"""Job schedules: validation, English phrases, next fire times, descriptions.

This module is pure Python (stdlib + cronsim + cron_descriptor); it never
imports Django, so it can be used from models, serializers, the dispatcher
and management commands alike, and tested without a settings module.

A schedule is one of three kinds:

* ``interval`` -- every N seconds/minutes/hours/days, anchored: the slots are
  ``anchor + k * interval`` for k = 0, 1, 2, ... where ``anchor`` is the moment
  the schedule was created or last edited.  Slots never drift with dispatch
  delays, and nothing fires before the anchor.
* ``cron`` -- a standard 5-field cron expression evaluated in the schedule's
  IANA time zone (default ``UTC``).
* ``once`` -- a single timezone-aware instant.

DST rules
=========

These are classic Debian/Vixie cron semantics.  cronsim implements them; this
module adds one post-processing step (see "fall-back" below).

1. Fixed-time cron jobs -- the minute field AND the hour field are both
   something other than a wildcard (e.g. ``30 2 * * *``, ``0 9 * * 1-5``,
   ``0,30 8-17 * * *``); "wildcard" means the field starts with ``*``, which
   is exactly Debian's test, so ``*/15`` is a wildcard but ``0-59/15`` is not:

   * Spring-forward: if the local time does not exist, the job fires once at
     the first valid instant after the gap.  Europe/Berlin, 2025-03-30:
     ``30 2 * * *`` fires at 03:00 CEST (01:00 UTC).  America/New_York,
     2025-03-09: it fires at 03:00 EDT (07:00 UTC).
   * Fall-back: if the local time occurs twice, the job fires only at the
     first occurrence.  Europe/Berlin, 2025-10-26: ``30 2 * * *`` fires at
     02:30 CEST (00:30 UTC) and NOT again at 02:30 CET (01:30 UTC).
     America/New_York, 2025-11-02: ``30 1 * * *`` fires at 01:30 EDT
     (05:30 UTC) only.

2. Wildcard cron jobs -- the minute or the hour field starts with ``*``
   (e.g. ``*/15 * * * *``, ``0 * * * *``, ``*/5 9 * * *``): the job fires at
   every real instant whose local wall-clock time matches.  So
   ``*/15 * * * *`` fires every 15 real minutes straight through both
   transitions: in the repeated fall-back hour it fires 4 times in each of the
   two 02:xx hours (Berlin, 2025-10-26); in spring-forward there are simply no
   02:xx local times.  Consecutive fire times are always 15 minutes apart in
   UTC.

3. Intervals are exact elapsed time: ``anchor + k * interval`` computed in UTC,
   then shown in the schedule's time zone.  DST never stretches or shrinks
   them ("every 1 day" is every 86400 s, so its wall-clock time shifts by an
   hour across a transition; use a cron/"daily at" schedule for wall-clock).

4. ``once`` is a single instant.  When it comes from a phrase with a local
   date and time (``on 2031-03-30 at 02:30``), the same rules as (1) are used
   to turn the wall-clock time into an instant: a skipped time moves to the
   first valid minute after the gap, a repeated time means its first
   occurrence.

All returned fire times are aware datetimes in the schedule's ``ZoneInfo``.
Compare them after ``.astimezone(UTC)``: Python compares two datetimes that
share a tzinfo by wall clock (ignoring ``fold``, so 02:30 CEST == 02:30 CET),
and ``==`` between different zones is always False for a time inside a
repeated hour (PEP 495).  This module does all its own comparisons in UTC.
"""

from __future__ import annotations

import bisect
import functools
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options
from cronsim import CronSim, CronSimError

__all__ = [
    "KINDS",
    "UNITS",
    "Schedule",
    "ScheduleError",
    "describe",
    "from_dict",
    "next_fire_time",
    "next_fire_times",
    "parse",
    "parse_phrase",
    "slots_between",
    "to_dict",
]

KINDS = ("interval", "cron", "once")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}

_UTC = UTC
_PHRASE_EXAMPLE = "every monday at 09:00"
_KIND_MESSAGE = "Must be one of: interval, cron, once."
_UNIT_MESSAGE = "Must be one of: seconds, minutes, hours, days."
_REQUIRED = "This field is required."


class ScheduleError(ValueError):
    """Validation failure.

    ``.fields`` maps a field name (relative to the schedule object: "kind",
    "cron", "timezone", "every", "unit", "at", "phrase") to a list of
    messages; ``.message`` is one human sentence (the first field message
    unless an explicit message is given).
    """

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}
        self.message = message
        super().__init__(message)

    @classmethod
    def from_fields(cls, fields: dict[str, list[str]]) -> ScheduleError:
        first = next((msgs[0] for msgs in fields.values() if msgs), "Invalid schedule.")
        return cls(first, fields)


@dataclass(frozen=True)
class Schedule:
    kind: str  # "interval" | "cron" | "once"
    timezone: str = "UTC"
    cron: str | None = None  # normalized 5-field expression (single spaces)
    every: int | None = None
    unit: str | None = None
    anchor: datetime | None = None  # interval anchor, aware
    at: datetime | None = None  # once, aware
    phrase: str | None = None  # original phrase if one was given

    @property
    def interval_seconds(self) -> int | None:
        if self.kind != "interval" or self.every is None or self.unit not in UNITS:
            return None
        return self.every * UNITS[self.unit]

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _require_aware(value: datetime, name: str) -> None:
    # A naive `now`/`after` is a programming error, not user input, so it is
    # a plain ValueError (not ScheduleError) and surfaces as a bug.
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


@functools.cache
def _known_zones() -> frozenset[str]:
    # ZoneInfo() alone would also accept "localtime" (the *server's* zone)
    # and "Factory"; a stored schedule must not depend on the host, so only
    # real IANA keys are allowed.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def _zone_error(name: object) -> str:
    shown = name if isinstance(name, str) else repr(name)
    return f'Unknown time zone "{shown}"; use an IANA name such as "Europe/Berlin".'


def _load_zone(name: object) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name or raise ScheduleError on "timezone"."""
    if isinstance(name, str) and name in _known_zones():
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # pragma: no cover - tzdata race
            pass
    raise ScheduleError.from_fields({"timezone": [_zone_error(name)]})


def _ts(value: datetime) -> datetime:
    """The instant in UTC: the only safe form to compare (see module docstring)."""
    return value.astimezone(_UTC)


def _is_imaginary(local: datetime) -> bool:
    # A wall-clock time inside a spring-forward gap does not survive a round
    # trip through UTC.
    return local != local.astimezone(_UTC).astimezone(local.tzinfo)


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time -> instant, using the cron rules from the docstring."""
    local = naive.replace(tzinfo=tz, fold=0)  # fold=0: first occurrence
    if _is_imaginary(local):
        # Same as cronsim/Debian: walk forward minute by minute to the first
        # real instant after the gap (gaps can be up to a whole day).
        local = local.replace(second=0, microsecond=0)
        for _ in range(2 * 24 * 60):
            local = (local.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=tz)
            if not _is_imaginary(local):
                break
    return local


# --------------------------------------------------------------------------
# Cron validation
# --------------------------------------------------------------------------

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _CronField:
    label: str
    low: int
    high: int
    allowed: str
    names: tuple[str, ...] = ()
    name_offset: int = 0  # value of names[0]


_CRON_FIELDS = (
    _CronField("Minute", 0, 59, "0-59"),
    _CronField("Hour", 0, 23, "0-23"),
    _CronField("Day-of-month", 1, 31, "1-31"),
    _CronField("Month", 1, 12, "1-12 or jan-dec", _MONTH_NAMES, 1),
    _CronField("Day-of-week", 0, 7, "0-7 or sun-sat", _DOW_NAMES, 0),
)

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_ITEM_RE = re.compile(r"^(?P<base>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>[^/]*))?$")


def _cron_value(field: _CronField, token: str, errors: list[str]) -> int | None:
    if token.isdigit():
        value = int(token)
        if field.low <= value <= field.high:
            return value
        errors.append(f"{field.label} field value {value} is out of range (allowed {field.allowed}).")
        return None
    if token in field.names:
        return field.names.index(token) + field.name_offset
    errors.append(f'{field.label} field value "{token}" is not valid (allowed {field.allowed}).')
    return None


def _check_cron_field(field: _CronField, raw: str, errors: list[str]) -> None:
    """Validate one field of a standard cron expression, appending messages."""
    for item in raw.split(","):
        match = _ITEM_RE.match(item)
        if not match:
            errors.append(
                f'{field.label} field "{raw}" is not valid (allowed {field.allowed}, '
                'combined with "*", ranges "a-b", lists "a,b" and steps "/n").'
            )
            return
        base, step = match["base"], match["step"]
        if base != "*":
            start_tok, _, end_tok = base.partition("-")
            start = _cron_value(field, start_tok, errors)
            end = _cron_value(field, end_tok, errors) if end_tok else start
            if start is not None and end is not None and end < start:
                errors.append(
                    f'{field.label} field range "{base}" runs backwards (allowed {field.allowed}, low to high).'
                )
        if step is not None and not (step.isdigit() and 1 <= int(step) <= field.high):
            errors.append(f'{field.label} field step "{step}" is out of range (allowed 1-{field.high}).')


def _validate_cron(value: object) -> str:
    """Return the normalized expression or raise ScheduleError on "cron"."""
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError.from_fields({"cron": ['Must be a 5-field cron expression such as "0 9 * * 1".']})
    expr = " ".join(value.lower().split())
    if expr.startswith("@"):
        if expr not in _MACROS:
            raise ScheduleError.from_fields(
                {
                    "cron": [
                        f'"{value.strip()}" is not supported; use a 5-field expression '
                        "or one of @hourly, @daily, @weekly, @monthly, @yearly."
                    ]
                }
            )
        # Expanded so that the stored value is always 5 plain fields.
        expr = _MACROS[expr]
    parts = expr.split(" ")
    if len(parts) != 5:
        raise ScheduleError.from_fields(
            {
                "cron": [
                    "Cron expression must have exactly 5 fields "
                    f"(minute hour day-of-month month day-of-week); got {len(parts)}."
                ]
            }
        )
    errors: list[str] = []
    for field, raw in zip(_CRON_FIELDS, parts, strict=True):
        _check_cron_field(field, raw, errors)
    if not errors:
        # Our checks cover syntax and ranges; cronsim additionally rejects
        # expressions that can never fire (e.g. "0 0 30 2 *").
        try:
            CronSim(expr, datetime(2000, 1, 1, tzinfo=_UTC))
        except CronSimError as exc:
            if "day-of-month" in str(exc):
                errors.append(
                    "Day-of-month field never matches a day in the selected months "
                    '(e.g. "30" in February); allowed 1-31 but within the month\'s length.'
                )
            else:
                errors.append(f"Cron expression is not valid ({exc}).")
    if errors:
        raise ScheduleError.from_fields({"cron": errors})
    return expr


# --------------------------------------------------------------------------
# Field validators shared by parse(), parse_phrase() and from_dict()
# --------------------------------------------------------------------------


def _validate_every(every: object, errors: dict[str, list[str]]) -> int | None:
    if every is None:
        errors.setdefault("every", []).append(_REQUIRED)
        return None
    # bool is an int subclass; `True` minutes is never what someone meant.
    if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
        errors.setdefault("every", []).append("Must be a positive whole number.")
        return None
    return every


def _validate_unit(unit: object, errors: dict[str, list[str]]) -> str | None:
    if unit is None:
        errors.setdefault("unit", []).append(_REQUIRED)
        return None
    if not isinstance(unit, str) or unit not in UNITS:
        errors.setdefault("unit", []).append(_UNIT_MESSAGE)
        return None
    return unit


def _interval_minimum_error(total: int, min_interval_seconds: int) -> str | None:
    if total < min_interval_seconds:
        return f"Interval must be at least {_plural(min_interval_seconds, 'second')}; got {_plural(total, 'second')}."
    return None


def _parse_datetime(value: object, field: str, errors: dict[str, list[str]]) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            errors.setdefault(field, []).append(
                'Must be an ISO 8601 date-time with a UTC offset, e.g. "2031-01-01T12:00:00+01:00".'
            )
            return None
    if not isinstance(value, datetime):
        errors.setdefault(field, []).append(
            _REQUIRED
            if value is None
            else 'Must be an ISO 8601 date-time with a UTC offset, e.g. "2031-01-01T12:00:00+01:00".'
        )
        return None
    if value.utcoffset() is None:
        errors.setdefault(field, []).append("Must include a UTC offset or time zone; a naive date-time is ambiguous.")
        return None
    return value


def _build(
    data: Mapping[str, Any],
    *,
    now: datetime | None,
    min_interval_seconds: int | None,
    anchor: datetime | None,
) -> Schedule:
    """Shared dict -> Schedule path.  `now is None` means "stored data": no
    future check, no minimum interval, and the anchor comes from the data."""
    errors: dict[str, list[str]] = {}

    tz_name = data.get("timezone")
    if tz_name is None:
        tz_name = "UTC"
    tz: ZoneInfo | None
    try:
        tz = _load_zone(tz_name)
    except ScheduleError as exc:
        errors.update(exc.fields)
        tz = None

    phrase = data.get("phrase")
    if phrase is not None and not isinstance(phrase, str):
        errors["phrase"] = ["Must be a text phrase such as " + f'"{_PHRASE_EXAMPLE}".']
        phrase = None
    elif isinstance(phrase, str) and not phrase.strip():
        # A blank phrase (e.g. an empty form input) is treated as absent.
        phrase = None

    if phrase is not None and now is not None:
        try:
            schedule = _parse_phrase(
                phrase,
                tz_name=tz_name if tz else "UTC",
                tz=tz or ZoneInfo("UTC"),
                now=now,
                min_interval_seconds=min_interval_seconds or 0,
                anchor=anchor or now,
            )
        except ScheduleError as exc:
            for key, msgs in exc.fields.items():
                errors.setdefault(key, []).extend(msgs)
        if errors:
            raise ScheduleError.from_fields(errors)
        return schedule

    kind = data.get("kind")
    fields: dict[str, Any] = {}
    if kind is None or kind == "":
        errors["kind"] = [
            f'{_REQUIRED} Use one of: interval, cron, once, or give a "phrase" such as "{_PHRASE_EXAMPLE}".'
        ]
    elif kind not in KINDS:
        errors["kind"] = [_KIND_MESSAGE]
    elif kind == "cron":
        try:
            fields["cron"] = _validate_cron(data.get("cron"))
        except ScheduleError as exc:
            errors.update(exc.fields)
    elif kind == "interval":
        every = _validate_every(data.get("every"), errors)
        unit = _validate_unit(data.get("unit"), errors)
        if every is not None and unit is not None and min_interval_seconds is not None:
            message = _interval_minimum_error(every * UNITS[unit], min_interval_seconds)
            if message:
                errors.setdefault("every", []).append(message)
        # Stored data (now is None) carries its own anchor from to_dict();
        # fresh input is anchored at the caller's anchor or `now`.
        anchor = _parse_datetime(data.get("anchor"), "anchor", errors) if now is None else anchor or now
        fields.update(every=every, unit=unit, anchor=anchor)
    else:  # once
        at = _parse_datetime(data.get("at"), "at", errors)
        if at is not None and now is not None and _ts(at) <= _ts(now):
            errors.setdefault("at", []).append("Must be in the future.")
        fields["at"] = at

    if errors:
        raise ScheduleError.from_fields(errors)
    assert tz is not None  # no errors means the zone loaded
    # Datetimes are stored in the schedule's zone so that what we show and
    # serialize matches the user's wall clock.
    for key in ("anchor", "at"):
        if fields.get(key) is not None:
            fields[key] = fields[key].astimezone(tz)
    return Schedule(kind=kind, timezone=tz_name, phrase=phrase, **fields)


# --------------------------------------------------------------------------
# Public: parse / parse_phrase
# --------------------------------------------------------------------------


def parse(
    data: Mapping[str, Any],
    *,
    now: datetime,
    min_interval_seconds: int = 10,
    anchor: datetime | None = None,
) -> Schedule:
    """Validate a wire-format schedule dict and return a Schedule.

    Accepted shapes::

        {"phrase": "...", "timezone": "..."}
        {"kind": "cron", "cron": "0 9 * * 1", "timezone": "..."}
        {"kind": "interval", "every": 15, "unit": "minutes"}
        {"kind": "once", "at": <aware datetime or ISO 8601 string>}

    If "phrase" is present (and not blank) it wins and is normalized; the
    returned Schedule keeps ``.phrase``.  timezone defaults to "UTC".  The
    interval anchor is ``anchor`` or ``now`` (an "anchor" key in ``data`` is
    ignored: editing a schedule re-anchors it).  ``every`` must be a positive
    int (bools rejected).  "once" at or before ``now`` is an error.  Raises
    ScheduleError collecting every field problem it can find.
    """
    _require_aware(now, "now")
    if anchor is not None:
        _require_aware(anchor, "anchor")
    if not isinstance(data, Mapping):
        raise ScheduleError.from_fields({"kind": ["Schedule must be an object."]})
    return _build(data, now=now, min_interval_seconds=min_interval_seconds, anchor=anchor)


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

# `at <time>` is optional everywhere; a missing time means midnight.
_AT = r"(?: at (?P<time>.+))?"
_RE_INTERVAL = re.compile(r"^every (?P<n>\d+) (?P<unit>second|minute|hour|day)s?$")
_RE_EVERY_UNIT = re.compile(r"^every (?P<unit>second|minute)$")
_RE_HOURLY = re.compile(r"^(?:hourly|every hour)$")
_RE_DAILY = re.compile(rf"^(?:daily|every day){_AT}$")
_RE_WEEKDAYS = re.compile(rf"^(?:every )?weekdays?{_AT}$")
_RE_DOW = re.compile(rf"^(?:every |on )?(?P<dow>{_DAY_ALT})s?{_AT}$")
_RE_MONTHLY = re.compile(
    rf"^(?:every |on )?(?:the )?(?P<day>\d{{1,2}})(?:st|nd|rd|th) of "
    rf"(?:the|each|every) month{_AT}$"
)
_RE_ON_DATE = re.compile(rf"^on (?P<date>\d{{4}}-\d{{2}}-\d{{2}}){_AT}$")
_RE_TIME = re.compile(r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?: ?(?P<ampm>am|pm))?$")


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
        every, unit = int(match["n"]), match["unit"] + "s"
        total = every * UNITS[unit]
        message = (
            "Interval must be a positive whole number."
            if every <= 0
            else _interval_minimum_error(total, min_interval_seconds)
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
        at = _localize(datetime(day_value.year, day_value.month, day_value.day, hour, minute), tz)
        if _ts(at) <= _ts(now):
            raise _phrase_error(f'The time in "{original}" is in the past; it must be in the future.')
        return Schedule(kind="once", timezone=tz_name, at=at, phrase=original)

    raise _phrase_error(f'Could not understand "{original}". Try a phrase like "{_PHRASE_EXAMPLE}".')


# --------------------------------------------------------------------------
# Fire times
# --------------------------------------------------------------------------


def _iter_fire_times(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after`, ascending, in the schedule's zone."""
    _require_aware(after, "after")
    tz = ZoneInfo(schedule.timezone)

    if schedule.kind == "once":
        if schedule.at is not None and _ts(schedule.at) > _ts(after):
            yield schedule.at.astimezone(tz)
        return

    if schedule.kind == "interval":
        seconds = schedule.interval_seconds
        if not seconds or schedule.anchor is None:
            raise ValueError("interval schedule needs every, unit and anchor")
        step = timedelta(seconds=seconds)
        anchor = schedule.anchor.astimezone(_UTC)
        # Exact arithmetic on timedeltas (integer microseconds), in UTC, so
        # DST cannot affect it.  k >= 0: nothing fires before the anchor.
        k = max(0, (after.astimezone(_UTC) - anchor) // step + 1)
        slot = anchor + k * step
        while True:
            yield slot.astimezone(tz)
            slot += step

    if schedule.kind == "cron":
        if not schedule.cron:
            raise ValueError("cron schedule needs a cron expression")
        after_utc = _ts(after)
        last: datetime | None = None  # previous yielded instant, in UTC
        # cronsim works on the wall clock of the datetime it is given, so give
        # it `after` in the schedule's zone (astimezone sets `fold` right).
        for fire in CronSim(schedule.cron, after.astimezone(tz)):
            # Post-processing: for fixed-time jobs cronsim iterates naive wall
            # clock times, so when `after` lies in the second (fold=1) copy of
            # a repeated hour it can return the *first* copy, which is before
            # `after`.  That slot already happened -> drop it.  The `last`
            # check guards against an instant being produced twice.
            # Compared in UTC because fire times in a repeated hour share the
            # tzinfo and would otherwise be compared by wall clock.
            fire_utc = _ts(fire)
            if fire_utc <= after_utc or (last is not None and fire_utc <= last):
                continue
            last = fire_utc
            yield fire
        return

    raise ValueError(f"unknown schedule kind {schedule.kind!r}")


def next_fire_times(schedule: Schedule, *, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`.

    Aware datetimes in the schedule's ZoneInfo.  once: ``[at]`` if
    ``at > after`` else ``[]``.  interval: ``anchor + k * interval`` for the
    smallest k >= 0 with result > after (exact elapsed time, computed in UTC).
    cron: per the DST rules in the module docstring.
    """
    if count <= 0:
        _require_aware(after, "after")
        return []
    if schedule.kind == "cron" and schedule.cron:
        return _cron_fire_times(schedule, after, count)
    result: list[datetime] = []
    for fire in _iter_fire_times(schedule, after):
        result.append(fire)
        if len(result) >= count:
            break
    return result


# Memo of cron fire times per (expression, zone). Many jobs share a schedule
# ("0 * * * *" in one zone) and API pages ask for the next five of each on
# every read; walking cronsim each time dominated a page of 50 jobs. An entry
# holds the consecutive fire times after some instant `base`; a query with
# after >= base is answered by the matching suffix, since a schedule's set of
# fire instants does not depend on where iteration starts. Bounded in size;
# dict reads and writes are atomic, so threads can share it.
_CRON_MEMO: dict[tuple[str, str], tuple[datetime, list[datetime], list[datetime]]] = {}
_CRON_MEMO_SPAN = 32
_CRON_MEMO_MAX = 4096


def _cron_fire_times(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    _require_aware(after, "after")
    key = (schedule.cron or "", schedule.timezone)
    moment = _ts(after)
    entry = _CRON_MEMO.get(key)
    if entry is not None and entry[0] <= moment:
        _, stamps, fires = entry
        start = bisect.bisect_right(stamps, moment)
        if start + count <= len(fires):
            return fires[start : start + count]
    fires = []
    for fire in _iter_fire_times(schedule, after):
        fires.append(fire)
        if len(fires) >= max(count, _CRON_MEMO_SPAN):
            break
    if len(_CRON_MEMO) >= _CRON_MEMO_MAX:
        _CRON_MEMO.clear()
    _CRON_MEMO[key] = (moment, [_ts(fire) for fire in fires], fires)
    return fires[:count]


def next_fire_time(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, or None if there is none."""
    times = next_fire_times(schedule, after=after, count=1)
    return times[0] if times else None


def slots_between(schedule: Schedule, *, start: datetime, end: datetime, limit: int = 100_000) -> list[datetime]:
    """All fire times t with start < t <= end (used for catch-up and `explain`).

    At most `limit` slots are returned (the earliest ones); callers that need
    to know whether it was truncated can compare ``len(result) == limit``.
    """
    _require_aware(end, "end")
    result: list[datetime] = []
    if limit <= 0:
        return result
    end_utc = _ts(end)
    for fire in _iter_fire_times(schedule, start):
        if _ts(fire) > end_utc:
            break
        result.append(fire)
        if len(result) >= limit:
            break
    return result


# --------------------------------------------------------------------------
# describe / to_dict / from_dict
# --------------------------------------------------------------------------

_DAY_TITLES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@functools.lru_cache(maxsize=1024)
def _describe_cron(expr: str) -> str:
    minute, hour, dom, month, dow = expr.split(" ")
    if expr == "* * * * *":
        return "Every minute"
    if expr == "0 * * * *":
        return "Every hour"
    if minute.isdigit() and hour.isdigit() and month == "*":
        at = f"{int(hour):02d}:{int(minute):02d}"
        if dom == "*" and dow == "*":
            return f"Every day at {at}"
        if dom == "*" and dow in ("1-5", "mon-fri"):
            return f"Every weekday at {at}"
        if dom == "*" and (dow.isdigit() or dow in _DOW_NAMES):
            number = int(dow) % 7 if dow.isdigit() else _DOW_NAMES.index(dow)
            return f"Every {_DAY_TITLES[number]} at {at}"
        if dow == "*" and dom.isdigit():
            return f"Every {_ordinal(int(dom))} of the month at {at}"
    options = Options()
    options.use_24hour_time_format = True
    # cron-descriptor picks its language from the process locale; pin English
    # so descriptions do not change with the server's environment.
    options.locale_code = "en_US"
    try:
        return ExpressionDescriptor(expr, options).get_description()
    except Exception:  # a description must never break a page
        return f"Cron {expr}"


def describe(schedule: Schedule) -> str:
    """Human text, e.g. "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes".

    Intervals are zone-independent so they get no suffix; cron and once
    always end with the time zone in parentheses.
    """
    if schedule.kind == "interval":
        every, unit = schedule.every or 0, schedule.unit or "seconds"
        singular = unit[:-1]
        return f"Every {singular}" if every == 1 else f"Every {every} {unit}"
    if schedule.kind == "once" and schedule.at is not None:
        local = schedule.at.astimezone(ZoneInfo(schedule.timezone))
        clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
        return f"Once on {local:%Y-%m-%d} at {clock} ({schedule.timezone})"
    if schedule.kind == "cron" and schedule.cron:
        return f"{_describe_cron(schedule.cron)} ({schedule.timezone})"
    return f"Invalid schedule ({schedule.kind})"


def to_dict(schedule: Schedule) -> dict[str, Any]:
    """Normalized wire fields.

    Always "kind" and "timezone"; cron -> "cron"; interval -> "every", "unit",
    "anchor"; once -> "at"; "phrase" only if given.  Datetimes are ISO 8601
    strings in the schedule's time zone.
    """
    tz = ZoneInfo(schedule.timezone)
    out: dict[str, Any] = {"kind": schedule.kind, "timezone": schedule.timezone}
    if schedule.kind == "cron":
        out["cron"] = schedule.cron
    elif schedule.kind == "interval":
        out["every"] = schedule.every
        out["unit"] = schedule.unit
        out["anchor"] = schedule.anchor.astimezone(tz).isoformat() if schedule.anchor else None
    elif schedule.kind == "once":
        out["at"] = schedule.at.astimezone(tz).isoformat() if schedule.at else None
    if schedule.phrase is not None:
        out["phrase"] = schedule.phrase
    return out


def from_dict(data: Mapping[str, Any]) -> Schedule:
    """Inverse of to_dict for stored, already-valid data.

    No "in the future" or minimum-interval checks (the minimum may have
    changed since the schedule was saved); the phrase is kept as text and not
    re-parsed.  Structurally broken data still raises ScheduleError.
    """
    if not isinstance(data, Mapping):
        raise ScheduleError.from_fields({"kind": ["Schedule must be an object."]})
    return _build(data, now=None, min_interval_seconds=None, anchor=None)
