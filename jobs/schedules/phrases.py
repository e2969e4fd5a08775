"""English phrases ("every monday at 09:00", "every 15 minutes") -> Schedule.

A phrase is read in three steps:

1. An IANA zone at the end ("... Europe/Berlin", "... UTC", optionally after "in") is split off.
2. The rest is split into words; "9 am" becomes one time word, "10m" the number 10 and the unit "m",
   and a comma separates list items like "and".
3. The words are read as a one-off ("tomorrow at 10am", "in 5 minutes", "2031-01-01 12:00") or as
   clauses in any order, each said at most once:

   * a repeat: "every 15 minutes", "every 2h", "hourly", "daily", "weekly", "monthly", "yearly",
     "every other day", "every 2 weeks", "twice a day";
   * which days: "every tuesday and thursday", "on weekdays", "every weekend", "every business day",
     "the 1st and 15th of the month", "the first monday of every month", "the last day of the month";
   * which times: "at 9am and 5pm", "noon";
   * a window of whole hours: "between 9am and 5pm" (the end is not included: the last run of
     "every 5 minutes between 9am and 5pm" is 16:55).

`_Spec` holds what the clauses said; `_build` turns it into a cron expression when the
schedule lines up with the clock, into an anchored interval when it cannot, and refuses what it
cannot represent exactly rather than guessing: a phrase never gets a meaning it did not say.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from jobs.schedules.cron import _validate_cron
from jobs.schedules.fire import _localize
from jobs.schedules.model import (
    INSTANT_RANGE_MESSAGE,
    UNITS,
    Schedule,
    ScheduleError,
    _instant_bounds_error,
    _interval_bounds_error,
    _known_zones,
    _load_zone,
    _plural,
    _require_aware,
    _ts,
    canonical_zone,
)

_PHRASE_EXAMPLE = "every monday at 09:00"

_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_DAY_WORDS = {name: number for number, name in enumerate(_DAY_NAMES)}
_DAY_WORDS.update({f"{name}s": number for number, name in enumerate(_DAY_NAMES)})
_DAY_WORDS.update({name[:3]: number for number, name in enumerate(_DAY_NAMES)})
_DAY_WORDS.update({"tues": 2, "weds": 3, "thur": 4, "thurs": 4})
_WEEKDAYS = (1, 2, 3, 4, 5)
_WEEKEND = (0, 6)
# Words (after "every"/"on") that name a set of days of the week.
_DAY_SET_WORDS = {
    "weekday": _WEEKDAYS,
    "weekdays": _WEEKDAYS,
    "workday": _WEEKDAYS,
    "workdays": _WEEKDAYS,
    "weekend": _WEEKEND,
    "weekends": _WEEKEND,
}

_UNIT_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "weeks"),
}
_NTH_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_PERIOD_WORDS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}
_PERIOD_WORDS["annually"] = "year"

_LINKING_WORDS = (
    "every each at on and the of month year other twice a between from to until noon midnight tomorrow today in"
    " business work"
)
# Everything a phrase may say, for "did you mean" when a word is misspelt.
_VOCABULARY = sorted(
    {
        *_DAY_NAMES,
        *_DAY_SET_WORDS,
        *_UNIT_WORDS,
        *_NTH_WORDS,
        *_PERIOD_WORDS,
        *_LINKING_WORDS.split(),
    }
)

# ASCII digits only: `\d` would also match other scripts' digits, which int() reads.
_RE_TIME = re.compile(r"^(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))?(?P<ampm>am|pm)?$", re.ASCII)
_RE_CLOCK = re.compile(r"^[0-9]{1,2}(?::[0-9]{2}(?:am|pm)?|am|pm)$", re.ASCII)  # not a bare number
_RE_NUMBER_UNIT = re.compile(r"^(?P<n>[0-9]+)(?P<unit>s|secs?|m|mins?|h|hrs?|d|w|wks?)$", re.ASCII)
_RE_ORDINAL = re.compile(r"^(?P<n>[0-9]{1,2})(?:st|nd|rd|th)$", re.ASCII)
_RE_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_RE_NUMBER = re.compile(r"^[0-9]+$", re.ASCII)

_ABBREVIATIONS = "est edt cst cdt mst mdt pst pdt akst akdt hst cet cest bst ist eet eest wet west aest aedt jst"
_ZONE_ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
_TIME_MESSAGE = 'Time "{}" is not valid; use HH:MM from 00:00 to 23:59, or a 12-hour time like "9am" or "9:30pm".'


def _phrase_error(message: str) -> ScheduleError:
    return ScheduleError.from_fields({"phrase": [message]})


def _words(text: str) -> list[str]:
    """Lower-cased words with times glued ("9 am" -> "9am") and units split ("10m" -> "10", "m")."""
    words: list[str] = []
    for word in text.replace(",", " , ").split():
        word = {"a.m.": "am", "p.m.": "pm"}.get(word, word)
        if word in ("am", "pm") and words and _RE_TIME.match(words[-1]) and not words[-1].endswith("m"):
            words[-1] += word
        elif match := _RE_NUMBER_UNIT.match(word):
            words += [match["n"], match["unit"]]
        else:
            words.append(word)
    return words


def _number(word: str) -> int:
    # int() refuses more than 4300 digits; 19 are past any bound already.
    return int(word) if len(word) <= 19 else 10**19


def _time(word: str) -> tuple[int, int]:
    """ "09:00", "9", "9am", "9:30pm", "12am", "noon", "midnight" -> (hour, minute)."""
    if word == "midnight":
        return 0, 0
    if word == "noon":
        return 12, 0
    match = _RE_TIME.match(word)
    if not match:
        raise _phrase_error(_TIME_MESSAGE.format(word))
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if minute > 59:
        raise _phrase_error(_TIME_MESSAGE.format(word))
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise _phrase_error(_TIME_MESSAGE.format(word))
        # 12am is midnight and 12pm is noon; other pm hours add 12.
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    elif hour > 23:
        raise _phrase_error(_TIME_MESSAGE.format(word))
    return hour, minute


def _looks_like_time(word: str) -> bool:
    """A word meant as a time, even a bad one ("25:00", "٩:00"), as opposed to another word ("teatime")."""
    return word in ("noon", "midnight") or any(c.isdigit() or c == ":" for c in word)


def _clock(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


class _NotUnderstood(Exception):
    """The word at `position` does not fit where it stands."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


@dataclass
class _Spec:
    """What a recurring phrase said; each part at most once. `said` names the words, for messages."""

    step: tuple[int, str] | None = None  # "every 15 minutes" -> (15, "minutes"); "weekly" is a period
    period: str | None = None  # "day" | "week" | "month" | "year" from daily/weekly/... or "every day"
    twice: bool = False
    days_of_week: tuple[int, ...] | None = None
    days_of_month: tuple[str, ...] | None = None  # "1", "15", "L"
    nth_weekday: tuple[int, int] | None = None  # (weekday, n) with n = -1 for "last"
    times: tuple[tuple[int, int], ...] | None = None
    window: tuple[tuple[int, int], tuple[int, int]] | None = None
    said: dict[str, str] = field(default_factory=dict)


class _Parser:
    """Reads the clauses of a recurring phrase into a `_Spec` (see the module docstring)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.pos = 0
        self.spec = _Spec()

    # --- cursor --------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> str | None:
        index = self.pos + ahead
        return self.words[index] if index < len(self.words) else None

    def take(self, *options: str) -> str | None:
        word = self.peek()
        if word is not None and word in options:
            self.pos += 1
            return word
        return None

    def fail(self) -> _NotUnderstood:
        return _NotUnderstood(self.pos)

    def list_continues(self, is_item: Callable[[str | None], bool]) -> bool:
        """Take a list separator ("and", ",", ", and") if an item follows it."""
        ahead = 1 if self.peek() == "," else 0
        ahead += 1 if self.peek(ahead) == "and" else 0
        if ahead and is_item(self.peek(ahead)):
            self.pos += ahead
            return True
        return False

    def set(self, part: str, start: int, **values: object) -> None:
        """Record a clause; a part said twice ("every monday on fridays") is refused."""
        text = " ".join(self.words[start : self.pos])
        if part in self.spec.said:
            raise _phrase_error(
                f'"{self.spec.said[part]}" and "{text}" both say the {part}; say it once, e.g. "{_PHRASE_EXAMPLE}".'
            )
        self.spec.said[part] = text
        for key, value in values.items():
            setattr(self.spec, key, value)

    # --- clauses -------------------------------------------------------------------------------

    def parse(self) -> _Spec:
        while self.peek() is not None:
            start = self.pos
            if not self.clause(start):
                raise self.fail()
        return self.spec

    def clause(self, start: int) -> bool:
        word = self.peek()
        if word in ("every", "each"):
            self.pos += 1
            if not self.after_every(start):
                raise self.fail()
            return True
        if word in _PERIOD_WORDS:
            self.pos += 1
            period = _PERIOD_WORDS[word]
            if period == "hour":
                self.set("repeat", start, step=(1, "hours"))
            else:
                self.set("repeat", start, period=period)
            return True
        if word == "twice":
            self.pos += 1
            if not (self.take("daily") or (self.take("a") and self.take("day"))):
                raise self.fail()
            self.set("repeat", start, period="day", twice=True)
            return True
        if word == "on":
            self.pos += 1
            if not self.days(start, after_on=True):
                raise self.fail()
            return True
        if word == "at":
            self.pos += 1
            self.times(start)
            return True
        if word in ("between", "from"):
            self.pos += 1
            self.window(start, "and" if word == "between" else ("to", "until", "till"))
            return True
        if word in ("noon", "midnight") or (word is not None and _RE_CLOCK.match(word)):
            self.times(start)
            return True
        return self.days(start, after_on=False)

    def after_every(self, start: int) -> bool:
        word = self.peek()
        if word is not None and _RE_NUMBER.match(word) and self.peek(1) in _UNIT_WORDS:
            self.pos += 2
            self.repeat(start, _number(word), _UNIT_WORDS[self.words[self.pos - 1]])
            return True
        if word == "other" and self.peek(1) in ("day", "week"):
            self.pos += 2
            self.set("repeat", start, step=(2, "days" if self.words[self.pos - 1] == "day" else "weeks"))
            return True
        if word in ("minute", "min", "hour", "hr", "second", "sec") and self.peek(1) not in _DAY_WORDS:
            self.pos += 1
            self.repeat(start, 1, _UNIT_WORDS[word])
            return True
        if word in ("week", "month", "year"):
            self.pos += 1
            self.set("repeat", start, period=word)
            return True
        if word == "day" and self.peek(1) != "of":
            self.pos += 1
            self.set("repeat", start, period="day")
            return True
        return self.days(start, after_on=False)

    def repeat(self, start: int, every: int, unit: str) -> None:
        if every == 1 and unit in ("days", "weeks"):
            # "every 1 day" is "every day", as "every 1 hour" is "every hour".
            self.set("repeat", start, period=unit[:-1])
        else:
            self.set("repeat", start, step=(every, unit))

    def days(self, start: int, *, after_on: bool) -> bool:
        """Days of the week, days of the month, or the nth weekday of the month; False if none."""
        before_the = self.pos
        self.take("the")
        word = self.peek()
        if word in _DAY_WORDS:
            days = [_DAY_WORDS[word]]
            self.pos += 1
            while self.list_continues(lambda w: w in _DAY_WORDS):
                days.append(_DAY_WORDS[self.words[self.pos]])
                self.pos += 1
            self.set("days", start, days_of_week=tuple(sorted(set(days))))
            return True
        if word in ("work", "business", "week", "weekend") and self.peek(1) in ("day", "days"):
            self.pos += 2
            self.set("days", start, days_of_week=_WEEKEND if word == "weekend" else _WEEKDAYS)
            return True
        if word in _DAY_SET_WORDS:
            self.pos += 1
            self.set("days", start, days_of_week=_DAY_SET_WORDS[word])
            return True
        nth = self.nth(word)
        if nth is not None and self.peek(1) in _DAY_WORDS:
            weekday = _DAY_WORDS[self.words[self.pos + 1]]
            self.pos += 2
            self.of_the_month(optional=after_on)
            self.set("days", start, nth_weekday=(weekday, nth))
            return True
        if word == "last" and self.peek(1) == "day":
            self.pos += 2
            self.of_the_month(optional=after_on)
            self.set("days", start, days_of_month=("L",))
            return True
        if word is not None and _RE_ORDINAL.match(word):
            days = [self.day_of_month(word)]
            self.pos += 1
            while self.list_continues(lambda w: bool(_RE_ORDINAL.match(w or ""))):
                days.append(self.day_of_month(self.words[self.pos]))
                self.pos += 1
            self.take("day")
            # "every 15th" alone could be read as a step; after "every" the month must be said.
            self.of_the_month(optional=after_on)
            self.set("days", start, days_of_month=tuple(str(d) for d in sorted(set(days))))
            return True
        self.pos = before_the
        return False

    def nth(self, word: str | None) -> int | None:
        if word in _NTH_WORDS:
            return _NTH_WORDS[word]
        match = _RE_ORDINAL.match(word or "")
        if match and 1 <= int(match["n"]) <= 5:
            return int(match["n"])
        return None

    def day_of_month(self, word: str) -> int:
        day = int(_RE_ORDINAL.match(word)["n"])  # type: ignore[index]
        if not 1 <= day <= 31:
            raise _phrase_error(f"Day of month {day} is out of range (allowed 1st-31st).")
        return day

    def of_the_month(self, *, optional: bool) -> None:
        """ "of the month" / "of every month"; after "on" ("on the 15th") it may be left out."""
        if optional and self.peek() != "of":
            return
        if not self.take("of"):
            raise self.fail()
        self.take("the", "each", "every")
        if not self.take("month"):
            raise self.fail()

    def time(self) -> tuple[int, int]:
        """The time at the cursor; anything else standing where a time must be is a bad time."""
        word = self.peek()
        if word is None:
            raise _phrase_error(
                f'A time is missing at the end; say one like "09:00" or "9am", e.g. "{_PHRASE_EXAMPLE}".'
            )
        if not _looks_like_time(word):
            raise self.fail()  # not a time at all ("at teatime"): say which word, not how times look
        self.pos += 1
        return _time(word)

    def times(self, start: int) -> None:
        times = [self.time()]
        while self.list_continues(lambda w: w == "at" or self.is_time(w)):
            self.take("at")
            times.append(self.time())
        self.set("times", start, times=tuple(times))

    def is_time(self, word: str | None) -> bool:
        return word is not None and (word in ("noon", "midnight") or bool(_RE_TIME.match(word)))

    def window(self, start: int, separators: str | tuple[str, ...]) -> None:
        begin = self.time()
        if not self.take(*((separators,) if isinstance(separators, str) else separators)):
            raise self.fail()
        end = self.time()
        self.set("hours", start, window=(begin, end))


def _close_words(word: str) -> list[str]:
    return difflib.get_close_matches(word, _VOCABULARY, n=3, cutoff=0.75) if word else []


def _suggestion(words: list[str], position: int, parse: Callable[[list[str]], Schedule]) -> str:
    """ "Did you mean ...?" when one misspelt word is the problem, else an example of the same family."""
    word = words[position] if position < len(words) else ""
    fixes = [[*words[:position], candidate, *words[position + 1 :]] for candidate in _close_words(word)]
    fixes.append([*words[:position], "of", "the", "month", *words[position:]])  # "every first monday at 9am"
    for fixed in fixes:
        try:
            parse(fixed)
        except (_NotUnderstood, ScheduleError):
            continue
        return f'Did you mean "{" ".join(fixed).replace(" , ", ", ")}"?'
    said = set(words)
    if words[0] == "in":
        example = "in 5 minutes"
    elif said & {"tomorrow", "today"}:
        example = "tomorrow at 10am"
    elif "month" in said or said & set(_NTH_WORDS) or any(_RE_ORDINAL.match(w) for w in said):
        example = "every 1st of the month at 09:00"
    elif said & {"seconds", "minutes", "minute", "hours", "hour", "min", "mins", "m", "h"}:
        example = "every 15 minutes"
    else:
        example = _PHRASE_EXAMPLE
    return f'Try a phrase like "{example}".'


# --- turning a _Spec into a Schedule -------------------------------------------------------------


def _aligned(every: int, unit: str) -> bool:
    """Steps that divide the hour or the day line up with the clock and are written as cron."""
    if unit == "minutes" and every % 60 == 0:
        every, unit = every // 60, "hours"
    if unit == "minutes":
        return 60 % every == 0
    return unit == "hours" and every < 24 and 24 % every == 0


def _hour_field(spec: _Spec, step_hours: int = 1) -> str:
    if spec.window is None:
        return "*" if step_hours == 1 else f"*/{step_hours}"
    (start, start_minute), (end, end_minute) = spec.window
    if start_minute or end_minute:
        raise _phrase_error(
            f'"{spec.said["hours"]}": the window must start and end on the hour, e.g. "between 9am and 5pm".'
        )
    end = end or 24  # "until midnight"
    if start == end:
        raise _phrase_error(f'"{spec.said["hours"]}" is an empty window; the end is not included.')
    step = "" if step_hours == 1 else f"/{step_hours}"
    if start < end:
        return f"{start}-{end - 1}{step}" if end - 1 > start else f"{start}{step}"
    if step:
        raise _phrase_error(
            f'"{spec.said["hours"]}" wraps past midnight; only whole-hour windows within a day can step.'
        )
    ranges = [f"{start}-23" if start < 23 else "23", f"0-{end - 1}" if end > 1 else "0"]
    return ",".join(ranges)


def _day_fields(spec: _Spec) -> tuple[str, str, str]:
    """(day-of-month, month, day-of-week) for what the phrase said about days."""
    if spec.period == "year":
        if spec.said.get("days"):
            raise _phrase_error(
                f'"{spec.said["repeat"]}" and "{spec.said["days"]}" together are not supported; '
                '"yearly" runs on January 1st. Use a cron expression for another date.'
            )
        return "1", "1", "*"
    if spec.period == "month" and spec.days_of_week is not None:
        raise _phrase_error(
            f'"{spec.said["repeat"]} {spec.said["days"]}" is ambiguous; say which one, '
            'e.g. "first monday of every month".'
        )
    if spec.period == "day" and "days" in spec.said and not spec.twice:
        raise _phrase_error(
            f'"{spec.said["repeat"]}" and "{spec.said["days"]}" both say the days; say them once, '
            'e.g. "every weekday at 09:00".'
        )
    if spec.period == "week" and (spec.days_of_month is not None or spec.nth_weekday is not None):
        raise _phrase_error(
            f'"{spec.said["repeat"]}" and "{spec.said["days"]}" do not fit together; '
            'say e.g. "weekly on monday" or "monthly on the 15th".'
        )
    if spec.days_of_week is not None:
        days = spec.days_of_week
        if days == _WEEKDAYS:
            return "*", "*", "1-5"
        return "*", "*", ",".join(str(d) for d in days)
    if spec.nth_weekday is not None:
        weekday, n = spec.nth_weekday
        return "*", "*", f"{weekday}L" if n == -1 else f"{weekday}#{n}"
    if spec.days_of_month is not None:
        return ",".join(spec.days_of_month), "*", "*"
    if spec.period == "week":
        return "*", "*", "0"  # like @weekly: Sunday
    if spec.period == "month":
        return "1", "*", "*"  # like @monthly: the 1st
    return "*", "*", "*"


def _time_fields(spec: _Spec) -> tuple[str, str]:
    times = spec.times or (((0, 0), (12, 0)) if spec.twice else ((0, 0),))
    if spec.twice and len(times) != 2:
        raise _phrase_error(f'"{spec.said["repeat"]}" needs two times, e.g. "twice a day at 9am and 5pm".')
    hours = sorted({h for h, _ in times})
    minutes = sorted({m for _, m in times})
    if len(set(times)) != len(hours) * len(minutes):
        # A cron expression runs every listed minute in every listed hour.
        listed = " and ".join(_clock(h, m) for h, m in sorted(set(times)))
        raise _phrase_error(
            f"The times {listed} cannot be one schedule (it would also run at every other mix of "
            "those hours and minutes); use one job for each time."
        )
    return ",".join(map(str, minutes)), ",".join(map(str, hours))


def _has_days(spec: _Spec) -> bool:
    return spec.period in ("week", "month", "year") or "days" in spec.said


class _Context:
    """What a phrase is read against: the zone, `now`, and the limits of the caller."""

    def __init__(self, *, tz_name: str, tz: ZoneInfo, now: datetime, min_interval_seconds: int, anchor: datetime):
        self.tz_name, self.tz, self.now = tz_name, tz, now
        self.min_interval_seconds, self.anchor = min_interval_seconds, anchor

    def cron(self, expr: str, original: str) -> Schedule:
        try:
            expr = _validate_cron(expr)
        except ScheduleError as exc:  # pragma: no cover - a phrase only builds crons the validator accepts
            raise _phrase_error(f'"{original}" is not supported here ({exc.message})') from None
        return Schedule(kind="cron", timezone=self.tz_name, cron=expr, phrase=original)

    def check_minimum(self, seconds: int) -> None:
        message = _interval_bounds_error(seconds, self.min_interval_seconds)
        if message:
            raise _phrase_error(message)

    def interval(self, every: int, unit: str, anchor: datetime, original: str) -> Schedule:
        if unit == "weeks":
            every, unit = every * 7, "days"
        if every <= 0:
            raise _phrase_error("Interval must be a positive whole number.")
        self.check_minimum(every * UNITS[unit])
        return Schedule(
            kind="interval",
            timezone=self.tz_name,
            every=every,
            unit=unit,
            anchor=anchor.astimezone(self.tz),
            phrase=original,
        )


def _build(spec: _Spec, context: _Context, original: str) -> Schedule:
    if spec.step is not None:
        every, unit = spec.step
        if unit in ("days", "weeks"):
            return _build_anchored_days(spec, context, original)
        if spec.times is not None:
            raise _phrase_error(
                f'"{spec.said["repeat"]}" repeats all day, so "{spec.said["times"]}" does not fit; '
                'to limit it to some hours say "between 9am and 5pm".'
            )
        if every > 0 and _aligned(every, unit):
            context.check_minimum(every * UNITS[unit])
            day_of_month, month, day_of_week = _day_fields(spec)
            if unit == "minutes" and every < 60:
                minute, hour = ("*" if every == 1 else f"*/{every}"), _hour_field(spec)
            else:  # whole hours, also when said in minutes ("every 120 minutes")
                minute, hour = "0", _hour_field(spec, every // 60 if unit == "minutes" else every)
            return context.cron(f"{minute} {hour} {day_of_month} {month} {day_of_week}", original)
        if _has_days(spec) or spec.window is not None:
            limits = " and ".join(spec.said[part] for part in ("days", "hours") if part in spec.said)
            raise _phrase_error(
                f'"{spec.said["repeat"]}" does not divide the hour or the day, so it runs as an exact '
                f'interval and cannot be limited to "{limits}"; use a step such as 5, 10, 15 or 30 minutes, '
                "or 1, 2, 3, 4, 6, 8 or 12 hours."
            )
        return context.interval(every, unit, context.anchor, original)
    if spec.window is not None:
        raise _phrase_error(
            f'"{spec.said["hours"]}" needs a repeat to go with it, e.g. "every 15 minutes {spec.said["hours"]}".'
        )
    if spec.period is None and not _has_days(spec):
        said = spec.said.get("times", original)
        raise _phrase_error(
            f'"{said}" says a time but not which days; say e.g. "every day at {said.removeprefix("at ")}" '
            f'or "tomorrow at {said.removeprefix("at ")}".'
        )
    day_of_month, month, day_of_week = _day_fields(spec)
    minute, hour = _time_fields(spec)
    return context.cron(f"{minute} {hour} {day_of_month} {month} {day_of_week}", original)


def _build_anchored_days(spec: _Spec, context: _Context, original: str) -> Schedule:
    """ "every 2 days at 10:00", "every 2 weeks on monday at 9:00": an interval anchored on its first run.

    Cron cannot say "every other day" or "every 2 weeks" (``*/2`` in the day-of-month field
    restarts each month), so these are exact intervals. A wall-clock time is only kept by an
    exact interval in a zone whose UTC offset does not change, so elsewhere they are refused.
    """
    every, unit = spec.step  # type: ignore[misc]
    days = every * 7 if unit == "weeks" else every
    if spec.window is not None or spec.period is not None or spec.twice:
        raise _phrase_error(f'"{original}" says the repeat more than once; say e.g. "every 2 days at 10:00".')
    if spec.days_of_month is not None or spec.nth_weekday is not None:
        raise _phrase_error(f'"{spec.said["repeat"]}" cannot be combined with "{spec.said["days"]}".')
    if spec.days_of_week is not None and (unit != "weeks" or len(spec.days_of_week) != 1):
        raise _phrase_error(
            f'"{spec.said["repeat"]}" and "{spec.said["days"]}" do not fit together; '
            'say one day with a repeat of weeks, e.g. "every 2 weeks on monday at 09:00".'
        )
    if spec.times is not None and len(spec.times) != 1:
        raise _phrase_error(f'"{spec.said["repeat"]}" takes one time; use one job for each time.')
    if spec.times is None and spec.days_of_week is None:
        # No wall-clock time was said: counted from now, like "every 3 days" always was.
        return context.interval(every, unit, context.anchor, original)
    message = _interval_bounds_error(days * UNITS["days"], None)
    if message:
        raise _phrase_error(message)
    hour, minute = spec.times[0] if spec.times else (0, 0)
    local_now = context.now.astimezone(context.tz)
    first = None
    for offset in range(8):
        day = local_now.date() + timedelta(days=offset)
        if spec.days_of_week is not None and (day.weekday() + 1) % 7 != spec.days_of_week[0]:
            continue
        candidate = _localize(datetime(day.year, day.month, day.day, hour, minute), context.tz)
        if _ts(candidate) > _ts(context.now):
            first = candidate
            break
    assert first is not None  # within 8 days there is always a matching day after now
    if _offset_changes(first, context.tz):
        raise _phrase_error(
            f'"{original}" repeats in exact steps of {_plural(days * 24, "hour")}, which would move it off '
            f"{_clock(hour, minute)} when daylight saving changes in {context.tz_name}; use a daily or weekly "
            f'phrase such as "every day at {_clock(hour, minute)}", or a zone without daylight saving such as UTC.'
        )
    return context.interval(every, unit, first, original)


def _offset_changes(first: datetime, tz: ZoneInfo) -> bool:
    """Whether the zone's UTC offset changes within a year of `first` (daylight saving, mostly)."""
    offset = first.utcoffset()
    instant = _ts(first)
    return any((instant + timedelta(days=day)).astimezone(tz).utcoffset() != offset for day in range(1, 367))


# --- one-offs --------------------------------------------------------------------------------------


def _one_off(words: list[str], context: _Context, original: str) -> Schedule | None:
    """ "tomorrow at 10am", "today at 17:00", "in 5 minutes", "2031-01-01 12:00", "on 2031-01-01 at 12:00"."""
    rest = words[1:] if words[0] == "on" and len(words) > 1 and _RE_DATE.match(words[1]) else words
    head = rest[0]
    if head == "in":  # "in <number> <unit>"; the first word that does not fit is named
        if len(rest) < 2 or not _RE_NUMBER.match(rest[1]):
            raise _NotUnderstood(1)
        if len(rest) < 3 or rest[2] not in _UNIT_WORDS or len(rest) > 3:
            raise _NotUnderstood(2 if len(rest) < 3 or rest[2] not in _UNIT_WORDS else 3)
        amount, unit = _number(rest[1]), _UNIT_WORDS[rest[2]]
        seconds = amount * (7 * 86400 if unit == "weeks" else UNITS[unit])
        if seconds <= 0:
            raise _phrase_error(f'"{original}" is not in the future; say e.g. "in 5 minutes".')
        try:
            at = (context.now + timedelta(seconds=seconds)).replace(microsecond=0)
        except OverflowError:
            at = None
        return _once(at, context, original, relative=True)
    if head in ("tomorrow", "today") or _RE_DATE.match(head):
        if head == "tomorrow":
            day = context.now.astimezone(context.tz).date() + timedelta(days=1)
        elif head == "today":
            day = context.now.astimezone(context.tz).date()
        else:
            try:
                day = date.fromisoformat(head)
            except ValueError:
                raise _phrase_error(f'Date "{head}" is not a valid calendar date (use YYYY-MM-DD).') from None
        tail = rest[1:]
        if tail[:1] == ["at"]:
            tail = tail[1:]
        if len(tail) > 1:
            raise _NotUnderstood(len(words) - len(tail) + 1)
        if not tail:
            if head in ("tomorrow", "today"):
                raise _phrase_error(f'"{original}" needs a time, e.g. "{head} at 10am".')
            hour, minute = 0, 0
        else:
            if not _looks_like_time(tail[0]):
                raise _NotUnderstood(len(words) - 1)
            hour, minute = _time(tail[0])
        try:
            at = _localize(datetime(day.year, day.month, day.day, hour, minute), context.tz)
        except OverflowError:
            at = None
        return _once(at, context, original, relative=head in ("tomorrow", "today"))
    return None


def _once(at: datetime | None, context: _Context, original: str, *, relative: bool = False) -> Schedule:
    """A one-off at `at`. A relative one ("tomorrow at 10am", "in 5 minutes") keeps no phrase: it is
    resolved to its instant when saved, and a phrase read again later would name another instant (a
    schedule sent back as it was returned would then no longer match its own phrase)."""
    message = INSTANT_RANGE_MESSAGE if at is None else _instant_bounds_error(at)
    if message:
        raise _phrase_error(f'The time in "{original}": {message[0].lower()}{message[1:]}')
    assert at is not None
    if _ts(at) <= _ts(context.now):
        raise _phrase_error(f'The time in "{original}" is in the past; it must be in the future.')
    return Schedule(
        kind="once", timezone=context.tz_name, at=at.astimezone(context.tz), phrase=None if relative else original
    )


# --- the entry points --------------------------------------------------------------------------------


def _split_zone(text: str) -> tuple[str, str | None]:
    """ "daily at 8am Europe/Berlin" -> ("daily at 8am", "Europe/Berlin"); no zone -> (text, None)."""
    head, _, last = text.rpartition(" ")
    if not head:
        return text, None
    if last.lower() in _ZONE_ABBREVIATIONS:
        raise _phrase_error(
            f'"{last}" is an abbreviation, not a time zone, and does not say whether daylight saving applies; '
            'use an IANA name such as "America/New_York" or "Europe/Berlin", or "UTC".'
        )
    zone = canonical_zone(last)
    # Only region/city names and UTC/GMT: legacy keys such as "EST" are fixed offsets that
    # people type meaning their local time with daylight saving.
    if zone not in _known_zones() or ("/" not in last and last.lower() not in ("utc", "gmt")):
        if "/" in last and not _RE_DATE.match(last):
            close = difflib.get_close_matches(last, sorted(_known_zones()), n=1, cutoff=0.8)
            hint = f'; did you mean "{close[0]}"?' if close else '; use an IANA name such as "Europe/Berlin".'
            raise _phrase_error(f'Unknown time zone "{last}" in "{text}"{hint}')
        return text, None
    if head.endswith(" in"):
        head = head[:-3]
    return head, str(zone)


def zone_in_phrase(phrase: str) -> str | None:
    """The IANA zone a phrase ends with ("daily at 8am Europe/Berlin"), or None (also for a bad one)."""
    try:
        return _split_zone(" ".join(str(phrase).split()).rstrip("."))[1]
    except ScheduleError:
        return None


def _parse_phrase(
    phrase: str,
    *,
    tz_name: str,
    tz: ZoneInfo,
    now: datetime,
    min_interval_seconds: int,
    anchor: datetime,
    zone_given: bool = True,
) -> Schedule:
    """Read `phrase` in zone `tz_name`; `zone_given`: the caller's time zone field was filled in."""
    if not isinstance(phrase, str) or not phrase.strip():
        raise _phrase_error(f'Enter a schedule phrase such as "{_PHRASE_EXAMPLE}".')
    original = phrase.strip()
    text, phrase_zone = _split_zone(" ".join(original.split()).rstrip("."))
    if phrase_zone is not None and phrase_zone != tz_name:
        if zone_given:
            raise _phrase_error(
                f'The phrase says time zone "{phrase_zone}" but the time zone field says "{tz_name}"; '
                "give the zone in one place, or make them agree."
            )
        tz_name, tz = phrase_zone, _load_zone(phrase_zone)
    context = _Context(tz_name=tz_name, tz=tz, now=now, min_interval_seconds=min_interval_seconds, anchor=anchor)
    words = _words(text.lower())
    if not words:  # only a zone
        raise _phrase_error(f'"{original}" names a time zone but no schedule; e.g. "{_PHRASE_EXAMPLE} {tz_name}".')

    def read(words: list[str]) -> Schedule:
        return _one_off(words, context, original) or _build(_Parser(words).parse(), context, original)

    try:
        return read(words)
    except _NotUnderstood as exc:
        if exc.position < len(words):
            problem = f'Could not understand "{words[exc.position]}" in "{original}".'
        else:
            problem = f'"{original}" stops before it is complete.'
        raise _phrase_error(f"{problem} {_suggestion(words, exc.position, read)}") from None


def parse_phrase(
    phrase: str,
    *,
    timezone: str | None = None,
    now: datetime | None = None,
    min_interval_seconds: int = 10,
) -> Schedule:
    """Normalize an English phrase into an interval/cron/once Schedule.

    `timezone` None means "not given": a zone named in the phrase is used, else UTC; a zone
    given here and a different one in the phrase is an error. `now` (default: the current time)
    resolves one-offs such as "tomorrow at 10am" and anchors intervals. Errors are reported on
    "phrase" (and "timezone" for a bad zone), because the phrase is what the user typed.
    """
    now = datetime.now(UTC) if now is None else now
    _require_aware(now, "now")
    errors: dict[str, list[str]] = {}
    zone_name = canonical_zone("UTC" if timezone is None else timezone)
    try:
        tz = _load_zone(zone_name)
    except ScheduleError as exc:
        errors.update(exc.fields)
        tz = None
    try:
        schedule = _parse_phrase(
            phrase,
            tz_name=str(zone_name) if tz else "UTC",
            tz=tz or ZoneInfo("UTC"),
            now=now,
            min_interval_seconds=min_interval_seconds,
            anchor=now,
            zone_given=timezone is not None and tz is not None,
        )
    except ScheduleError as exc:
        errors.update(exc.fields)
    if errors:
        raise ScheduleError.from_fields(errors)
    return schedule
