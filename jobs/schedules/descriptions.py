"""Human text for a schedule: "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes"."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options

from jobs.schedules.cron import _DOW_NAMES, parse_cron
from jobs.schedules.model import Schedule, ScheduleError

_DAY_TITLES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_NTH_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


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


@functools.lru_cache(maxsize=1024)
def _describe_cron(expr: str) -> str:
    expr = _every_day(expr)
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
    """Human text, e.g. "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes".

    Intervals are zone-independent so they get no suffix; cron and once
    always end with the time zone in parentheses.
    """
    if schedule.kind == "interval":
        every, unit = schedule.every or 0, schedule.unit or "seconds"
        singular = unit[:-1]
        return f"Every {singular}" if every == 1 else f"Every {every} {unit}"
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
