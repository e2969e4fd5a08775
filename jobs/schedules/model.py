"""The Schedule value, its validation error, and the helpers every other module shares.

A schedule is one of three kinds:

* ``interval`` -- every N seconds/minutes/hours/days, anchored: the slots are
  ``anchor + k * interval`` for k = 0, 1, 2, ... where ``anchor`` is the moment
  the schedule was created or last edited.  Slots never drift with dispatch
  delays, and nothing fires before the anchor.
* ``cron`` -- a standard 5-field cron expression evaluated in the schedule's
  IANA time zone (default ``UTC``).
* ``once`` -- a single timezone-aware instant.

The DST rules that turn these into fire times live in ``fire``.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

KINDS = ("interval", "cron", "once")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# Bounds that keep every computed time a real datetime. An interval of more
# than ten years is a typo, not a schedule, and its slots would overflow
# datetime's range (year 9999) in a few steps; a once instant is kept inside
# 1900-9998 (UTC) so that showing it in any zone (offsets up to 26 h) stays
# inside that range as well.
MAX_INTERVAL_SECONDS = 3650 * 86400
MIN_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
INSTANT_RANGE_MESSAGE = "Must be between 1900-01-01 and 9998-12-31 (UTC)."


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


@functools.cache
def _zones_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in _known_zones()}  # no two IANA keys differ only in case


def canonical_zone(name: object) -> object:
    """The IANA spelling of a zone name typed in any case, spaces around it ignored.

    "europe/berlin " -> "Europe/Berlin". Anything else is returned unchanged for
    `_load_zone` to refuse with its message.
    """
    if isinstance(name, str):
        return _zones_by_folded_name().get(name.strip().casefold(), name)
    return name


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
    """The instant in UTC: the only safe form to compare (see the end of fire's docstring)."""
    return value.astimezone(UTC)


def _interval_bounds_error(total: int, min_interval_seconds: int | None) -> str | None:
    """Why an interval of `total` seconds is refused, or None. `min_interval_seconds` None: stored data."""
    if total > MAX_INTERVAL_SECONDS:
        return f"Interval must be at most {MAX_INTERVAL_SECONDS // 86400} days; got {_plural(total, 'second')}."
    if min_interval_seconds is not None and total < min_interval_seconds:
        return f"Interval must be at least {_plural(min_interval_seconds, 'second')}; got {_plural(total, 'second')}."
    return None


def _instant_bounds_error(value: datetime) -> str | None:
    """Why an aware instant is outside the range every zone can show, or None (never raises)."""
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not MIN_INSTANT <= instant < MAX_INSTANT:
        return INSTANT_RANGE_MESSAGE
    return None
