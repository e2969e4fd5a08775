"""The wire-format dict, both ways: parse() for input, to_dict()/from_dict() for storage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobs.schedules.cron import _validate_cron
from jobs.schedules.model import (
    KINDS,
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
from jobs.schedules.phrases import _PHRASE_EXAMPLE, _parse_phrase

_KIND_MESSAGE = "Must be one of: interval, cron, once."
_UNIT_MESSAGE = "Must be one of: seconds, minutes, hours, days."
_REQUIRED = "This field is required."


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
    message = _instant_bounds_error(value)
    if message:
        errors.setdefault(field, []).append(message)
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

    tz_name = canonical_zone(data.get("timezone"))
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
                # A field that is not a zone is reported on "timezone"; it cannot conflict with the phrase.
                zone_given=data.get("timezone") is not None and tz is not None,
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
        if every is not None and unit is not None:
            message = _interval_bounds_error(every * UNITS[unit], min_interval_seconds)
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


def to_dict(schedule: Schedule) -> dict[str, Any]:
    """Normalized wire fields.

    Always "kind" and "timezone"; cron -> "cron"; interval -> "every", "unit",
    "anchor"; once -> "at"; "phrase" only if given.  Datetimes are ISO 8601
    strings in the schedule's time zone.
    """
    try:
        tz = ZoneInfo(schedule.timezone)
    except (KeyError, ValueError):  # stored with a zone tzdata no longer has: show the instants in UTC
        tz = ZoneInfo("UTC")
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
