"""Cron fire times against an independent brute-force reference, for random expressions and zones (issue 17).

The reference shares nothing with jobs.schedules but the rules in fire's docstring: it walks UTC
minute by minute, reads each minute's wall clock in the zone, matches the fields itself (from
the values the strategy drew, not by parsing the text) and applies the DST rules:

1. fixed-time jobs (neither the minute nor the hour field starts with "*") fire at the first
   occurrence of a matching wall-clock minute, and once at the first real minute after a gap
   that skipped one or more matching wall-clock minutes;
2. wildcard jobs fire at every real minute whose wall clock matches.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.schedules import ScheduleError, describe, next_fire_times, parse, slots_between

# Zones and years with every kind of change: an hour at 02:00 (Berlin, New York), half an hour
# (Lord Howe), at :45 (Chatham), at local midnight (Santiago, Havana, Tehran, Sao Paulo 2018) and
# a whole missing day (Apia, 2011-12-30).
ZONE_YEARS = [
    ("Europe/Berlin", 2025),
    ("America/New_York", 2025),
    ("Australia/Lord_Howe", 2025),
    ("Pacific/Chatham", 2025),
    ("America/Santiago", 2025),
    ("America/Havana", 2024),
    ("Asia/Tehran", 2021),
    ("Pacific/Apia", 2011),
    ("America/Sao_Paulo", 2018),
]
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@functools.cache
def changes() -> list[tuple[str, datetime]]:
    """(zone, an instant within an hour after an offset change) for every change in ZONE_YEARS."""
    found = []
    for zone, year in ZONE_YEARS:
        tz = ZoneInfo(zone)
        moment = datetime(year, 1, 1, tzinfo=UTC)
        offset = moment.astimezone(tz).utcoffset()
        while moment.year == year:
            moment += timedelta(hours=1)
            if moment.astimezone(tz).utcoffset() != offset:
                offset = moment.astimezone(tz).utcoffset()
                found.append((zone, moment))
    return found


# --------------------------------------------------------------------------
# Random expressions, each field with its own matcher
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int] = frozenset()  # minute, hour, month, plain days
    day_test: Callable[[date], bool] | None = None  # day fields: the whole test


def _walk(low: int, high: int, start: int, end: int, step: int) -> frozenset[int]:
    """start, start+step, ... up to end, going round from high to low (a wrap-around range)."""
    size, values, value = high - low + 1, [], start
    count = (end - start) % size + 1
    for _ in range(count):
        values.append(value)
        value = low + (value - low + 1) % size
    return frozenset(values[::step])


def numeric_field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[Field]:
    value = st.integers(low, high)

    def show(v: int) -> str:
        return names[v - low] if names and v % 3 == 0 else str(v)

    return st.one_of(
        st.just(Field("*", frozenset(range(low, high + 1)))),
        st.builds(lambda n: Field(f"*/{n}", frozenset(range(low, high + 1, n))), st.integers(1, high)),
        st.builds(lambda v: Field(show(v), frozenset({v})), value),
        st.builds(lambda a, b: Field(f"{show(a)}-{show(b)}", _walk(low, high, a, b, 1)), value, value),
        st.builds(lambda a, b, n: Field(f"{a}-{b}/{n}", _walk(low, high, a, b, n)), value, value, st.integers(1, high)),
        st.builds(lambda a, n: Field(f"{a}/{n}", frozenset(range(a, high + 1, n))), value, st.integers(1, high)),
        st.builds(lambda vs: Field(",".join(map(str, sorted(vs))), frozenset(vs)), st.sets(value, min_size=1)),
    )


def _last_day(d: date) -> bool:
    return (d + timedelta(days=1)).month != d.month


def _weekday(d: date) -> bool:
    return d.weekday() < 5


def _last_weekday(d: date) -> bool:
    later = (d + timedelta(days=k) for k in range(1, 7))
    return _weekday(d) and not any(_weekday(e) for e in later if e.month == d.month)


def _nearest_weekday(n: int) -> Callable[[date], bool]:
    def test(d: date) -> bool:
        length = calendar.monthrange(d.year, d.month)[1]
        if n > length:
            return False
        weekdays = [day for day in range(1, length + 1) if _weekday(d.replace(day=day))]
        return d.day == min(weekdays, key=lambda day: abs(day - n))

    return test


def _sunday_first(d: date) -> int:
    return d.isoweekday() % 7


day_of_month = st.one_of(
    numeric_field(1, 31).map(lambda f: Field(f.text, f.values, lambda d, vs=f.values: d.day in vs)),
    st.just(Field("l", day_test=_last_day)),
    st.just(Field("lw", day_test=_last_weekday)),
    st.builds(lambda n: Field(f"{n}w", day_test=_nearest_weekday(n)), st.integers(1, 31)),
)


def _dow_range(a: int, b: int) -> Field:
    # a <= b: a to b (7 is Sunday again, so 0-7 and 1-7 are every day); a > b: wraps past Saturday.
    days = frozenset(v % 7 for v in range(a, b + 1)) if a <= b else _walk(0, 6, a % 7, b % 7, 1)
    text = f"{DAYS[a % 7]}-{DAYS[b % 7]}" if a != 7 and b != 7 else f"{a}-{b}"
    return Field(text, days, lambda d: _sunday_first(d) in days)


day_of_week = st.one_of(
    st.just(Field("*", day_test=lambda d: True)),
    st.builds(lambda v: Field(str(v), day_test=lambda d: _sunday_first(d) == v % 7), st.integers(0, 7)),
    st.builds(_dow_range, st.integers(0, 7), st.integers(0, 7)),
    st.just(Field("mon-sun", day_test=lambda d: True)),
    st.builds(
        lambda v: Field(
            f"{v}l", day_test=lambda d: _sunday_first(d) == v % 7 and (d + timedelta(days=7)).month != d.month
        ),
        st.integers(0, 7),
    ),
    st.builds(
        lambda v, k: Field(f"{v}#{k}", day_test=lambda d: _sunday_first(d) == v and (d.day + 6) // 7 == k),
        st.integers(0, 6),
        st.integers(1, 5),
    ),
)


@dataclass(frozen=True)
class Expression:
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field

    @property
    def text(self) -> str:
        return " ".join(f.text for f in (self.minute, self.hour, self.dom, self.month, self.dow))

    @property
    def wildcard(self) -> bool:
        return self.minute.text.startswith("*") or self.hour.text.startswith("*")

    def matches(self, wall: datetime) -> bool:
        if wall.minute not in self.minute.values or wall.hour not in self.hour.values:
            return False
        if wall.month not in self.month.values:
            return False
        day = wall.date()
        dom = self.dom.day_test(day) if self.dom.day_test else day.day in self.dom.values
        dow = self.dow.day_test(day) if self.dow.day_test else True
        if self.dom.text.startswith("*") or self.dow.text.startswith("*"):
            return dom and dow
        return dom or dow


expressions = st.builds(
    Expression,
    # Mostly dense minutes and hours, so that a window of a day and a half has fire times to compare.
    minute=st.one_of(
        numeric_field(0, 59),
        st.sampled_from(["*", "*/15", "30", "0,30", "*/20"]).map(
            lambda t: Field(t, frozenset(range(60)) if t == "*" else _parse_simple(t, 59))
        ),
    ),
    hour=st.one_of(
        numeric_field(0, 23),
        st.sampled_from(["*", "0", "1", "2", "3", "0-3", "*/2", "22-2"]).map(
            lambda t: Field(t, frozenset(range(24)) if t == "*" else _parse_simple(t, 23))
        ),
    ),
    dom=st.one_of(st.just(Field("*", frozenset(range(1, 32)))), day_of_month),
    month=st.one_of(st.just(Field("*", frozenset(range(1, 13)))), numeric_field(1, 12, MONTHS)),
    dow=st.one_of(st.just(Field("*", day_test=lambda d: True)), day_of_week),
)


def _parse_simple(text: str, high: int) -> frozenset[int]:
    """The few fixed texts above: "*/n", "a", "a,b", "a-b" (wrapping)."""
    if text.startswith("*/"):
        return frozenset(range(0, high + 1, int(text[2:])))
    if "," in text:
        return frozenset(int(v) for v in text.split(","))
    if "-" in text:
        a, b = map(int, text.split("-"))
        return _walk(0, high, a, b, 1)
    return frozenset({int(text)})


# --------------------------------------------------------------------------
# The reference: UTC minute by minute
# --------------------------------------------------------------------------


def reference(expr: Expression, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Fire times t with start < t <= end, in UTC, by the rules in this module's docstring."""
    tz = ZoneInfo(zone)
    minute = timedelta(minutes=1)
    moment = start.replace(second=0, microsecond=0) - timedelta(hours=27)  # repeats reach back < 27 h
    seen: set[datetime] = set()
    previous: datetime | None = None
    fires = []
    while moment <= end:
        wall = moment.astimezone(tz).replace(tzinfo=None)
        if expr.wildcard:
            fire = expr.matches(wall)
        else:
            fire = expr.matches(wall) and wall not in seen
            if previous is not None and wall - previous > minute:  # a gap skipped these wall minutes
                skipped = previous + minute
                while skipped < wall and not fire:
                    fire = expr.matches(skipped) and skipped not in seen
                    skipped += minute
            seen.add(wall)
        if fire and start < moment:
            fires.append(moment)
        previous = wall
        moment += minute
    return fires


def _real(instant: datetime, zone: str) -> bool:
    """An aware datetime in `zone` whose wall-clock reading exists and names this instant."""
    again = instant.astimezone(UTC).astimezone(ZoneInfo(zone))
    return instant.tzinfo == ZoneInfo(zone) and again.replace(tzinfo=None) == instant.replace(tzinfo=None)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=expressions,
    change=st.sampled_from(changes()),
    before=st.integers(-30 * 60, 6 * 60),
    seconds=st.sampled_from([0, 0, 30]),
    local=st.booleans(),
)
def test_cron_fire_times_match_the_reference(
    expr: Expression, change: tuple[str, datetime], before: int, seconds: int, local: bool
) -> None:
    zone, moment = change
    start = moment + timedelta(minutes=before, seconds=seconds)
    asked = start.astimezone(ZoneInfo(zone)) if local else start  # `after` may come in any zone
    end = start + timedelta(hours=30)
    try:
        schedule = parse({"kind": "cron", "cron": expr.text, "timezone": zone}, now=start)
    except ScheduleError as exc:  # only an expression that can never fire is refused
        assert "never matches" in exc.message, (expr.text, exc.message)
        return
    expected = reference(expr, zone, start, end)
    got = slots_between(schedule, start=start, end=end)
    assert [t.astimezone(UTC) for t in got] == expected, expr.text
    assert all(_real(t, zone) for t in got)
    if expected:
        first = next_fire_times(schedule, after=asked, count=3)
        assert [t.astimezone(UTC) for t in first][: len(expected)] == expected[:3]
        # Asked from inside the window (maybe inside a repeated stretch), the answer is the rest.
        middle = expected[len(expected) // 2]
        rest = slots_between(schedule, start=middle - timedelta(seconds=1), end=end)
        assert [t.astimezone(UTC) for t in rest] == [t for t in expected if t >= middle]


@settings(max_examples=200, deadline=None, database=None)
@given(expr=expressions)
def test_every_valid_expression_has_a_description(expr: Expression) -> None:
    try:
        schedule = parse({"kind": "cron", "cron": expr.text}, now=datetime(2025, 1, 1, tzinfo=UTC))
    except ScheduleError:
        return
    text = describe(schedule)
    assert text.endswith(" (UTC)") and not text.startswith("Cron "), (expr.text, text)
    # cron-descriptor's readings of lower-case L and W forms ("on day l of the month").
    assert not re.search(r"\b(l|lw|\d+w|\d+l)\b", text), (expr.text, text)
