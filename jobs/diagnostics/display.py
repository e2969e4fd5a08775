"""How the admin writes times: local wall clock with its zone, and "in 5 minutes" / "2 hours ago"."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil


def format_local(moment: datetime) -> str:
    """`Mon 2025-06-02 09:00 CEST` (seconds only when there are any)."""
    clock = "%H:%M:%S" if moment.second else "%H:%M"
    return moment.strftime(f"%a %Y-%m-%d {clock} %Z")


def relative(moment: datetime | None, now: datetime | None = None, *, depth: int = 1) -> str:
    """`in 14 seconds`, `in 2 hours`, `5 minutes ago`, `just now`."""
    if moment is None:
        return "—"
    now = now or timezone.now()
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        whole = int(abs(seconds))
        if whole == 0:
            return "just now"
        text = f"{whole} second" if whole == 1 else f"{whole} seconds"
        return f"in {text}" if seconds > 0 else f"{text} ago"
    if seconds > 0:
        return f"in {timeuntil(moment, now, depth=depth)}"
    return f"{timesince(moment, now, depth=depth)} ago"
