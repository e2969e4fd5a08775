"""Human text for a schedule: "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes"."""

from __future__ import annotations

import functools
import re
from datetime import UTC
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options

from jobs.schedules.cron import _DOW_NAMES, parse_cron
from jobs.schedules.model import Schedule, ScheduleError

_DAY_TITLES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_NTH_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
# "1#2" (the second Monday) and "5l" (the last Friday); expressions are stored lower-case.
_NTH = re.compile(r"^(?P<day>[0-7])(?:#(?P<n>[1-5])|(?P<last>l))$", re.ASCII)


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _dow_number(token: str) -> int | None:
    if token.isascii() and token.isdigit() and int(token) <= 7:
        return int(token) % 7
    return _DOW_NAMES.index(token) if token in _DOW_NAMES else None


def _special_day(dom: str, dow: str) -> str | None:
    """The day part of an expression whose only day is one special form: "the last Friday"."""
    if dow == "*":
        if dom == "l":
            return "the last day"
        if dom == "lw":
            return "the last weekday"
        if dom.endswith("w") and dom[:-1].isdigit():
            return f"the weekday nearest the {_ordinal(int(dom[:-1]))}"
    if dom == "*":
        if dow.endswith("l") and (number := _dow_number(dow[:-1])) is not None:
            return f"the last {_DAY_TITLES[number]}"
        head, _, nth = dow.partition("#")
        if nth.isdigit() and int(nth) in _NTH_WORDS and (number := _dow_number(head)) is not None:
            return f"the {_NTH_WORDS[int(nth)]} {_DAY_TITLES[number]}"
    return None


def _dom_item(item: str) -> str | None:
    if item.isdigit():
        return f"the {_ordinal(int(item))}"
    if item == "l":
        return "the last day"
    if item == "lw":
        return "the last weekday"
    if item.endswith("w") and item[:-1].isdigit():
        return f"the weekday nearest the {_ordinal(int(item[:-1]))}"
    low, _, high = item.partition("-")
    if low.isdigit() and high.isdigit():
        return f"the {_ordinal(int(low))} to the {_ordinal(int(high))}"
    return None


def _dom_segment(dom: str) -> str | None:
    """ ", on the 15th and the last day of the month" for lists with L, LW or nW, or a range that
    wraps around the month's end (cron-descriptor reads those as "day L", "between day 28 and 3")."""
    items = dom.split(",")
    wraps = any(a.isdigit() and b.isdigit() and int(a) > int(b) for a, _, b in (i.partition("-") for i in items))
    if not wraps and not any(item[-1:] in ("l", "w") for item in items):
        return None
    words = [_dom_item(item) for item in items]
    if any(word is None for word in words):
        return None
    return f", on {_join(words)} of the month"  # type: ignore[arg-type]


def _dow_segment(dow: str) -> str | None:
    """ ", on the last Monday and the first Friday of the month": lists of nL and n#k only."""
    items = dow.split(",")
    if len(items) < 2:
        return None
    words = [_special_day("*", item) for item in items]
    if any(word is None for word in words):
        return None
    return f", on {_join(words)} of the month"  # type: ignore[arg-type]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _hour_range_segment(minute: str, hour: str) -> str | None:
    """ "Every hour from 22:00 to 02:00" for "0 22-2": cron-descriptor says "Between 22:00 and 02:59",
    as if it ran every minute."""
    low, _, high = hour.partition("-")
    if not (minute.isdigit() and low.isdigit() and high.isdigit()):
        return None
    return f"Every hour from {int(low):02d}:{int(minute):02d} to {int(high):02d}:{int(minute):02d}"


def _every_day(expr: str) -> str:
    """The expression with a day-of-week field that names all seven days ("mon-sun", "1-7") as "*".

    With either day field "*" both must match, otherwise either: all seven days is every day
    either way, except that a day-of-month starting with "*" ("*/2") still applies.
    """
    minute, hour, dom, month, dow = expr.split(" ")
    if dow == "*":
        return expr
    try:
        spec = parse_cron(expr)
    except ScheduleError:
        return expr
    if len(spec.weekdays) < 7:
        return expr
    return " ".join((minute, hour, dom if dom.startswith("*") else "*", month, "*"))


def _numbers(field: str) -> list[int] | None:
    """ "9" or "9,17" -> [9, 17]; anything else (ranges, steps, names) -> None."""
    parts = field.split(",")
    return [int(p) for p in parts] if all(p.isascii() and p.isdigit() for p in parts) else None


def _weekdays(dow: str) -> list[int] | None:
    """The days of the week of a plain list ("1,3", "mon", "7"), Monday first; None for other forms."""
    days = []
    for item in dow.split(","):
        if item.isascii() and item.isdigit() and int(item) <= 7:
            days.append(int(item) % 7)
        elif item in _DOW_NAMES:
            days.append(_DOW_NAMES.index(item))
        else:
            return None
    return sorted(set(days), key=lambda d: (d + 6) % 7)


def _days(dom: str, month: str, dow: str) -> tuple[str, str] | None:
    """How the day fields read before a time ("Every Tuesday and Thursday") and after a step
    ("on Tuesdays and Thursdays"), or None when they are not one of the forms phrases produce."""
    if month != "*":
        if month == "1" and dom == "1" and dow == "*":
            return "Every year on January 1st", "on January 1st"
        return None
    if dom == "*" and dow == "*":
        return "Every day", ""
    if dom == "*" and dow in ("1-5", "mon-fri"):
        return "Every weekday", "on weekdays"
    if dom == "*" and (match := _NTH.match(dow)):
        day = _DAY_TITLES[int(match["day"]) % 7]
        nth = "last" if match["last"] else _NTH_WORDS[int(match["n"])]
        return f"On the {nth} {day} of every month", f"on the {nth} {day} of every month"
    if dom == "*" and (days := _weekdays(dow)) is not None:
        names = [_DAY_TITLES[d] for d in days]
        return f"Every {_join(names)}", f"on {_join([f'{name}s' for name in names])}"
    if dow == "*" and dom == "l":
        return "On the last day of every month", "on the last day of every month"
    if dow == "*" and (days := _numbers(dom)) is not None:
        listed = _join([_ordinal(d) for d in days])
        return f"Every {listed} of the month", f"on the {listed} of every month"
    return None


def _step_text(minute: str, hour: str) -> str | None:
    """ "*/15" and "9-16" -> "Every 15 minutes from 09:00 to 16:45"; None if not a step form."""
    if minute == "*" or minute.startswith("*/"):
        every = 1 if minute == "*" else int(minute[2:]) if minute[2:].isdigit() else 0
        if not every or 60 % every:
            return None
        text = "Every minute" if every == 1 else f"Every {every} minutes"
        last_minute = 60 - every
        if hour == "*":
            return text
        ranges = [part.partition("-") for part in hour.split(",")]
        if not all(a.isdigit() and (not b or b.isdigit()) for a, _, b in ranges):
            return None
        first, last = int(ranges[0][0]), int(ranges[-1][2] or ranges[-1][0])
        return f"{text} from {first:02d}:00 to {last:02d}:{last_minute:02d}"
    if minute == "0":
        base, _, step = hour.partition("/")
        every = int(step) if step.isdigit() else 1 if not step else 0
        if not every:
            return None
        text = "Every hour" if every == 1 else f"Every {every} hours"
        if base == "*":
            return text
        hours: list[int] = []
        for part in base.split(","):
            start, _, end = part.partition("-")
            if not start.isdigit() or (end and not end.isdigit()):
                return None
            hours += range(int(start), int(end or start) + 1)
        if step:
            hours = hours[::every]
        if len(hours) < 2:
            return None
        return f"{text} from {hours[0]:02d}:00 to {hours[-1]:02d}:00"
    return None


@functools.lru_cache(maxsize=1024)
def _describe_cron(expr: str) -> str:
    expr = _every_day(expr)
    minute, hour, dom, month, dow = expr.split(" ")
    days = _days(dom, month, dow)
    minutes, hours = _numbers(minute), _numbers(hour)
    if days is not None and minutes is not None and hours is not None:
        # Phrases only build lists whose every mix is meant ("9:00 and 17:00", not "9:00 and 17:30").
        times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
        return f"{days[0]} at {_join(times)}"
    if days is not None and (step := _step_text(minute, hour)) is not None:
        return f"{step} {days[1]}".rstrip()
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
        if (day := _special_day(dom, dow)) is not None:
            return f"On {day} of every month at {at}"
    options = Options()
    options.use_24hour_time_format = True
    # cron-descriptor picks its language from the process locale; pin English
    # so descriptions do not change with the server's environment.
    options.locale_code = "en_US"
    try:
        # Upper case: cron-descriptor reads "L", "W" and "#" forms only in capitals.
        descriptor = ExpressionDescriptor(expr.upper(), options)
        dom_text = _dom_segment(dom) or descriptor.get_day_of_month_description()
        dow_text = _dow_segment(dow) or descriptor.get_day_of_week_description()
        if dom_text and dow_text and not (dom.startswith("*") or dow.startswith("*")):
            # Both day fields restricted: cron fires on a day matching either, not both
            # (cron-descriptor says "on day 1 of the month, only on Monday").
            dow_text = ", and on " + dow_text.removeprefix(", ").removeprefix("only on ").removeprefix("on ")
        text = "".join(
            (
                _hour_range_segment(minute, hour) or descriptor.get_time_of_day_description(),
                dom_text,
                dow_text,
                descriptor.get_month_description(),
            )
        )
        text = descriptor.transform_verbosity(text, options.verbose)
        return text[:1].upper() + text[1:]
    except Exception:  # a description must never break a page
        return f"Cron {expr}"


def describe(schedule: Schedule) -> str:
    """Human text, e.g. "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes (UTC)".

    Everything ends with the time zone in parentheses. An interval names the
    instant its slots are counted from ("Every 90 minutes, counted from
    2025-01-01 12:00 (UTC)"): unlike cron it is not aligned to the clock.
    """
    if schedule.kind == "interval":
        every, unit = schedule.every or 0, schedule.unit or "seconds"
        if unit == "days" and every % 7 == 0:
            every, unit = every // 7, "weeks"
        text = f"Every {unit[:-1]}" if every == 1 else f"Every {every} {unit}"
        if schedule.anchor is None:
            return text
        # Said because an interval is not aligned to the clock: its slots are counted from the anchor.
        try:
            local = schedule.anchor.astimezone(ZoneInfo(schedule.timezone))
            zone = schedule.timezone
        except (KeyError, ValueError, OverflowError):  # a zone tzdata no longer has; see fire
            local, zone = schedule.anchor.astimezone(UTC), "UTC"
        clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
        weekday = f"{_DAY_TITLES[(local.weekday() + 1) % 7]} " if unit == "weeks" else ""
        return f"{text}, counted from {weekday}{local:%Y-%m-%d} {clock} ({zone})"
    if schedule.kind == "once" and schedule.at is not None:
        try:
            local = schedule.at.astimezone(ZoneInfo(schedule.timezone))
        except (KeyError, ValueError, OverflowError):  # a zone tzdata no longer has; see fire
            return f"Once at {schedule.at.isoformat()} ({schedule.timezone})"
        clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
        return f"Once on {local:%Y-%m-%d} at {clock} ({schedule.timezone})"
    if schedule.kind == "cron" and schedule.cron:
        return f"{_describe_cron(schedule.cron)} ({schedule.timezone})"
    return f"Invalid schedule ({schedule.kind})"
