"""Human text for a schedule: "Every Monday at 09:00 (Europe/Berlin)", "Every 15 minutes"."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options

from jobs.schedules.cron import _DOW_NAMES
from jobs.schedules.model import Schedule

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
        try:
            local = schedule.at.astimezone(ZoneInfo(schedule.timezone))
        except (KeyError, ValueError, OverflowError):  # a zone tzdata no longer has; see fire
            return f"Once at {schedule.at.isoformat()} ({schedule.timezone})"
        clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
        return f"Once on {local:%Y-%m-%d} at {clock} ({schedule.timezone})"
    if schedule.kind == "cron" and schedule.cron:
        return f"{_describe_cron(schedule.cron)} ({schedule.timezone})"
    return f"Invalid schedule ({schedule.kind})"
