"""Validation of standard 5-field cron expressions (and the @hourly-style macros)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

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
        step_value = _number(step) if step is not None else None
        if step is not None and not (step_value is not None and 1 <= step_value <= field.high):
            errors.append(f'{field.label} field step "{step[:20]}" is out of range (allowed 1-{field.high}).')


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
            CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
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
