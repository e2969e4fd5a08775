"""Cron expressions: validation, and the one parser that turns them into what `fire` iterates.

Standard 5-field expressions (``minute hour day-of-month month day-of-week``)
and the @hourly-style macros, plus the syntax users bring from other
schedulers (Quartz, Spring, Kubernetes, cronie):

* ``L`` (last day of the month), ``LW`` (last weekday of the month) and
  ``nW`` (the weekday nearest day n, never leaving the month) in day-of-month;
* ``nL`` (the last weekday n of the month: ``5L`` is the last Friday) and
  ``n#k`` (the k-th weekday n of the month: ``1#2`` is the second Monday) in
  day-of-week;
* ranges that wrap around the end of the field: ``fri-mon`` (Friday, Saturday,
  Sunday, Monday), ``22-2`` (hours 22, 23, 0, 1, 2), ``nov-mar``; so
  ``mon-sun`` and ``1-7`` are every day, not a range that "runs backwards".

Refused with a message that says so: a seconds field (6 or 7 fields, as in
Quartz or Spring), ``@reboot`` (not a schedule) and Jenkins' ``H`` (a hashed
value). The stored expression is what the user wrote, lower-cased with single
spaces; ``parse_cron`` is the only place that reads it, for validation and for
fire times alike.
"""

from __future__ import annotations

import calendar
import functools
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from jobs.schedules.model import ScheduleError

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
    cycle: int = 0  # values wrap modulo this (day-of-week: 7 is Sunday again); 0: high - low + 1
    special: str = ""  # the field's forms besides numbers, names, "*", ranges, lists and steps


_CRON_FIELDS = (
    _CronField("Minute", 0, 59, "0-59"),
    _CronField("Hour", 0, 23, "0-23"),
    _CronField("Day-of-month", 1, 31, "1-31", special='"L", "LW", "nW"'),
    _CronField("Month", 1, 12, "1-12 or jan-dec", _MONTH_NAMES, 1),
    _CronField("Day-of-week", 0, 7, "0-7 or sun-sat", _DOW_NAMES, 0, cycle=7, special='"nL", "n#k"'),
)
_MINUTE, _HOUR, _DOM, _MONTH, _DOW = _CRON_FIELDS

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
_NEAREST_RE = re.compile(r"^(?P<day>[0-9]+)w$")  # 15w
_LAST_DOW_RE = re.compile(r"^(?P<dow>[a-z0-9]+)l$")  # 5l, fril
_NTH_DOW_RE = re.compile(r"^(?P<dow>[a-z0-9]+)#(?P<nth>[^#]*)$")  # 1#2, mon#2
_HASH_H_RE = re.compile(r"^h(?:$|[(/0-9])")  # Jenkins: H, H/15, H(0-29)


def _number(token: str) -> int | None:
    """The value of a plain ASCII number of at most 9 digits, else None.

    `str.isdigit` is also true of "²" and "٣", which int() refuses or reads; and int() refuses
    more than 4300 digits. Nine digits are far past any field's range already.
    """
    if token.isascii() and token.isdigit() and len(token.lstrip("0")) <= 9:
        return int(token)
    return None


def _cron_value(field: _CronField, token: str, errors: list[str]) -> int | None:
    if token.isascii() and token.isdigit():
        value = _number(token)
        if value is not None and field.low <= value <= field.high:
            return value
        shown = value if value is not None else f"{token[:9]}..."
        errors.append(f"{field.label} field value {shown} is out of range (allowed {field.allowed}).")
        return None
    if token in field.names:
        return field.names.index(token) + field.name_offset
    errors.append(f'{field.label} field value "{token}" is not valid (allowed {field.allowed}).')
    return None


def _range_values(field: _CronField, start: int, end: int) -> list[int]:
    """start..end in the field's order; a range whose end is below its start wraps around."""
    if start <= end:
        return list(range(start, end + 1))
    if field.cycle:  # day-of-week: 7 is Sunday, so "mon-sun" (1-0) is Monday..Sunday
        return [day % field.cycle for day in range(start, end + field.cycle + 1)]
    return list(range(start, field.high + 1)) + list(range(field.low, end + 1))


@dataclass
class _Parsed:
    """One field's values, and for the day fields the special forms."""

    values: set[int]
    last: bool = False  # L (day-of-month)
    last_weekday: bool = False  # LW
    nearest: frozenset[int] = frozenset()  # nW
    last_dows: frozenset[int] = frozenset()  # nL (day-of-week)
    nth_dows: frozenset[tuple[int, int]] = frozenset()  # n#k


def _bad_item(field: _CronField, raw: str) -> str:
    special = f", {field.special}" if field.special else ""
    return (
        f'{field.label} field "{raw}" is not valid (allowed {field.allowed}{special}, '
        'combined with "*", ranges "a-b", lists "a,b" and steps "/n").'
    )


def _special_item(field: _CronField, item: str, parsed: _Parsed, errors: list[str]) -> bool:
    """L, LW, nW, nL and n#k: True if `item` was one (parsed or reported)."""
    if field is _DOM:
        if item == "l":
            parsed.last = True
            return True
        if item == "lw":
            parsed.last_weekday = True
            return True
        if match := _NEAREST_RE.match(item):
            day = _cron_value(field, match["day"], errors)
            if day is not None:
                parsed.nearest |= {day}
            return True
    if field is _DOW:
        if match := _LAST_DOW_RE.match(item):
            dow = _cron_value(field, match["dow"], errors)
            if dow is not None:
                parsed.last_dows |= {dow % 7}
            return True
        if match := _NTH_DOW_RE.match(item):
            dow = _cron_value(field, match["dow"], errors)
            nth = _number(match["nth"])
            if nth is None or not 1 <= nth <= 5:
                errors.append(f'Day-of-week field "{item}": the week number after "#" must be 1-5.')
            elif dow is not None:
                parsed.nth_dows |= {(dow % 7, nth)}
            return True
    return False


def _parse_field(field: _CronField, raw: str, errors: list[str]) -> _Parsed:
    """One field of a cron expression; problems are appended to `errors`."""
    parsed = _Parsed(set())
    for item in raw.split(","):
        if _HASH_H_RE.match(item):
            errors.append(
                f'{field.label} field "{raw}": "H" (a hashed value, as in Jenkins) is not supported; '
                "write the number you want, such as 17."
            )
            return parsed
        if _special_item(field, item, parsed, errors):
            continue
        match = _ITEM_RE.match(item)
        if not match:
            errors.append(_bad_item(field, raw))
            return parsed
        base, step = match["base"], match["step"]
        values: list[int] | None = list(range(field.low, field.high + 1))
        if base != "*":
            start_tok, _, end_tok = base.partition("-")
            start = _cron_value(field, start_tok, errors)
            # "a/n" runs from a to the end of the field, "a" alone is a value.
            end = _cron_value(field, end_tok, errors) if end_tok else (start if step is None else field.high)
            values = _range_values(field, start, end) if start is not None and end is not None else None
        step_value = _number(step) if step is not None else None
        if step is not None and not (step_value is not None and 1 <= step_value <= field.high):
            errors.append(f'{field.label} field step "{step[:20]}" is out of range (allowed 1-{field.high}).')
        elif values is not None:
            parsed.values.update(values[:: step_value or 1])
    if field.cycle:
        parsed.values = {value % field.cycle for value in parsed.values}
    return parsed


def _month_length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _nearest_weekday(day: date, wanted: int, length: int) -> bool:
    """Is `day` the weekday nearest day `wanted` of its month (Quartz's "nW", never leaving the month)?"""
    if wanted > length:
        return False
    target = day.replace(day=wanted)
    weekday = target.weekday()  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: the Friday before, or the Monday after the 1st
        target = target + timedelta(days=2) if wanted == 1 else target - timedelta(days=1)
    elif weekday == 6:  # Sunday: the Monday after, or the Friday before the last day
        target = target - timedelta(days=2) if wanted == length else target + timedelta(days=1)
    return target == day


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: which wall-clock minutes match. Naive times only; zones are `fire`'s."""

    minutes: tuple[int, ...]  # sorted
    hours: tuple[int, ...]  # sorted
    months: frozenset[int]
    days: frozenset[int]
    last_day: bool
    last_weekday: bool
    nearest: frozenset[int]
    weekdays: frozenset[int]  # 0 Sunday .. 6 Saturday
    last_dows: frozenset[int]
    nth_dows: frozenset[tuple[int, int]]
    dom_star: bool  # the day-of-month field starts with "*"
    dow_star: bool
    # Debian's test for the DST rules in `fire`: the minute or the hour field starts with "*".
    wildcard_time: bool

    def match_dom(self, day: date) -> bool:
        if day.day in self.days:
            return True
        if not self.nearest and (day.day < 26 or not (self.last_day or self.last_weekday)):
            return False  # L and LW are never before the 26th
        length = _month_length(day.year, day.month)
        if self.last_day and day.day == length:
            return True
        if self.last_weekday and day.weekday() < 5:
            # The last weekday: no later weekday in this month.
            after_it = range(day.day + 1, length + 1)
            if all(date(day.year, day.month, d).weekday() >= 5 for d in after_it):
                return True
        return any(_nearest_weekday(day, wanted, length) for wanted in self.nearest)

    def match_dow(self, day: date) -> bool:
        dow = (day.weekday() + 1) % 7
        if dow in self.weekdays:
            return True
        if dow in self.last_dows and day.day + 7 > _month_length(day.year, day.month):
            return True
        return (dow, (day.day - 1) // 7 + 1) in self.nth_dows

    def match_day(self, day: date) -> bool:
        # Debian/Vixie: if either day field starts with "*" (so "*/2" too), both must match;
        # otherwise either one.
        if self.dom_star or self.dow_star:
            return self.match_dom(day) and self.match_dow(day)
        return self.match_dom(day) or self.match_dow(day)

    def iter_naive(self, start: datetime) -> Iterator[datetime]:
        """Matching wall-clock minutes at or after the naive `start`, ascending; ends after 50 years
        without a matching day (or at the end of the calendar, as OverflowError)."""
        minutes, hours, months = self.minutes, self.hours, self.months
        first_minute = start.minute + (1 if start.second or start.microsecond else 0)
        day = start.date()
        first_hour, first_minute = (start.hour, first_minute) if first_minute < 60 else (start.hour + 1, 0)
        if first_hour > 23:
            day, first_hour = day + timedelta(days=1), 0
        one_day = timedelta(days=1)
        last_match = day
        while (day - last_match).days <= 366 * 50:
            if day.month not in months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                first_hour = first_minute = 0
                continue
            if self.match_day(day):
                last_match = day
                base = datetime.combine(day, time())
                for hour in hours[bisect_left(hours, first_hour) :]:
                    hour_start = base.replace(hour=hour)
                    skip = bisect_left(minutes, first_minute) if hour == first_hour else 0
                    for minute in minutes[skip:]:
                        yield hour_start.replace(minute=minute)
            day += one_day
            first_hour = first_minute = 0

    def matches(self, wall: datetime) -> bool:
        """Does the wall-clock minute `wall` match (seconds ignored)?"""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self.match_day(wall.date())
        )


def _parse(expr: str, errors: list[str]) -> CronSpec | None:
    """The spec of a normalized 5-field expression, or None with the problems in `errors`."""
    raw = expr.split(" ")
    minute, hour, dom, month, dow = (_parse_field(f, r, errors) for f, r in zip(_CRON_FIELDS, raw, strict=True))
    if errors:
        return None
    for field, parsed in ((_MINUTE, minute), (_HOUR, hour), (_MONTH, month)):
        if not parsed.values:  # pragma: no cover - every item adds a value or an error
            errors.append(_bad_item(field, raw[_CRON_FIELDS.index(field)]))
            return None
    return CronSpec(
        minutes=tuple(sorted(minute.values)),
        hours=tuple(sorted(hour.values)),
        months=frozenset(month.values),
        days=frozenset(dom.values),
        last_day=dom.last,
        last_weekday=dom.last_weekday,
        nearest=dom.nearest,
        weekdays=frozenset(dow.values),
        last_dows=dow.last_dows,
        nth_dows=dow.nth_dows,
        dom_star=raw[2].startswith("*"),
        dow_star=raw[4].startswith("*"),
        wildcard_time=raw[0].startswith("*") or raw[1].startswith("*"),
    )


def _never_matches(spec: CronSpec) -> bool:
    # Which days match depends on the year only through leap years and weekdays, which repeat
    # every 28 years between 1901 and 2099: so a day field that matches no day from 2001 to
    # 2029 never matches ("30" in February, "31w" in April).
    day, end = date(2001, 1, 1), date(2029, 1, 1)
    while day < end:
        if day.month in spec.months and spec.match_day(day):
            return False
        day += timedelta(days=1)
    return True


@functools.lru_cache(maxsize=1024)
def parse_cron(expr: str) -> CronSpec:
    """The spec of a stored (normalized) expression; ScheduleError on "cron" if it is not valid."""
    errors: list[str] = []
    parts = expr.split(" ")
    spec = _parse(expr, errors) if len(parts) == 5 else None
    if spec is None:
        raise ScheduleError.from_fields({"cron": errors or [_field_count_error(len(parts))]})
    return spec


def _field_count_error(count: int) -> str:
    message = f"Cron expression must have exactly 5 fields (minute hour day-of-month month day-of-week); got {count}."
    if count in (6, 7):
        message += " A seconds field (or a year field), as in Quartz or Spring, is not supported."
    return message


def _validate_cron(value: object) -> str:
    """Return the normalized expression or raise ScheduleError on "cron"."""
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError.from_fields({"cron": ['Must be a 5-field cron expression such as "0 9 * * 1".']})
    expr = " ".join(value.lower().split())
    if expr.startswith("@"):
        if expr == "@reboot":
            message = (
                '"@reboot" is not supported: jobs here run on a schedule, not when a machine starts; '
                "use a 5-field expression or one of @hourly, @daily, @weekly, @monthly, @yearly."
            )
        else:
            message = (
                f'"{value.strip()}" is not supported; use a 5-field expression '
                "or one of @hourly, @daily, @weekly, @monthly, @yearly."
            )
        if expr not in _MACROS:
            raise ScheduleError.from_fields({"cron": [message]})
        # Expanded so that the stored value is always 5 plain fields.
        expr = _MACROS[expr]
    parts = expr.split(" ")
    if len(parts) != 5:
        raise ScheduleError.from_fields({"cron": [_field_count_error(len(parts))]})
    errors: list[str] = []
    spec = _parse(expr, errors)
    if spec is not None and _never_matches(spec):
        errors.append(
            "Day-of-month field never matches a day in the selected months "
            '(e.g. "30" in February); allowed 1-31 but within the month\'s length.'
        )
    if errors:
        raise ScheduleError.from_fields({"cron": errors})
    return expr
