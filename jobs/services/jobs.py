"""Every write on jobs: create, update, pause, resume, duplicate, delete.

The API, the admin and the management commands call these and nothing else,
so validation, the audit trail, the API cache and django-celery-beat's mirror
rows stay in step whatever the entry point. Validation raises Django's
ValidationError keyed by dotted field paths (`schedule.cron`), which the
admin's forms and the API's error shape both understand.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils import timezone

from jobs import cache as job_cache
from jobs import schedules
from jobs.beat import mirror
from jobs.execution import claims, egress, registry, store
from jobs.models import (
    MASK,
    ActionType,
    CatchupPolicy,
    EventKind,
    Job,
    JobEvent,
    OverlapPolicy,
    PauseReason,
)
from jobs.services.alerts import alert_after_pause, job_channel_ids

logger = logging.getLogger(__name__)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

# Bounds of the numeric policies: (minimum, maximum).
POLICY_BOUNDS: dict[str, tuple[int, int]] = {
    "timeout_seconds": (1, 86_400),
    "max_retries": (0, 10),
    "retry_backoff_seconds": (1, 86_400),
    "jitter_seconds": (0, 3_600),
    "pause_after_failures": (1, 1_000),
    "alert_late_after_seconds": (1, 86_400),
}
POLICY_DEFAULTS: dict[str, Any] = {
    "description": "",
    "enabled": True,
    "timeout_seconds": 60,
    "max_retries": 0,
    "retry_backoff_seconds": 10,
    "overlap_policy": OverlapPolicy.SKIP,
    "catchup_policy": CatchupPolicy.SKIP,
    "jitter_seconds": 0,
    "pause_after_failures": None,
    # Alerts: on, to the owner's default channels unless ids of the owner's channels are listed.
    "alerts_enabled": True,
    "alert_channels": [],
    "alert_late_after_seconds": None,
}
# Bounds on what an action may carry: generous for real use, small enough that
# one user cannot fill the database, every page showing the job, or a worker's memory.
MAX_HEADERS = 50
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 8 * 1024
MAX_HTTP_BODY_BYTES = 64 * 1024
MAX_TASK_ARGUMENTS_BYTES = 64 * 1024
SETTABLE_FIELDS = ("name", "schedule", "action", *POLICY_DEFAULTS)
SCHEDULE_FIELDS = frozenset(Job.SCHEDULE_FIELDS)
SYSTEM = "system"


class DuplicateJobName(ValidationError):
    """A job with this name already exists for the owner (HTTP 409)."""

    http_status = 409
    error_code = "duplicate_name"

    def __init__(self, name: str) -> None:
        super().__init__({"name": [f'You already have a job named "{name}".']})


class JobLimitReached(ValidationError):
    """The owner already has JOBS_MAX_PER_USER jobs (HTTP 409)."""

    http_status = 409
    error_code = "job_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(
            {NON_FIELD_ERRORS: [f"You already have {limit} jobs, the most one user may have; delete some first."]}
        )


# --- validation -----------------------------------------------------------------


def _now() -> datetime:
    return timezone.now()


def validate_schedule(data: Any, *, now: datetime, anchor: datetime | None = None) -> schedules.Schedule:
    """Parse a wire-format schedule dict, raising ValidationError keyed `schedule.<field>`."""
    if not isinstance(data, Mapping):
        raise ValidationError({"schedule": ['Must be an object such as {"phrase": "every 15 minutes"}.']})
    # Interval anchors are whole seconds: slots read well ("every 15 minutes"
    # from 17:25:18, not 17:25:18.028761) and survive MongoDB's millisecond
    # storage unchanged, so a response and a later read show the same slots.
    anchor = (anchor or now).replace(microsecond=0)
    try:
        schedule = schedules.parse(
            data, now=now, min_interval_seconds=settings.JOBS_MIN_INTERVAL_SECONDS, anchor=anchor
        )
    except schedules.ScheduleError as exc:
        fields = exc.fields or {"": [exc.message]}
        raise ValidationError(
            {f"schedule.{field}" if field else "schedule": messages for field, messages in fields.items()}
        ) from exc
    conflicts = _phrase_conflicts(data, schedule)
    if conflicts:
        raise ValidationError(conflicts)
    return schedule


def _phrase_conflicts(data: Mapping[str, Any], schedule: schedules.Schedule) -> dict[str, list[str]]:
    """Fields sent next to a phrase must agree with it.

    A phrase wins over the fields, so a client that edits `cron` in what it
    read and sends it back with the old `phrase` would otherwise see its
    change silently dropped.
    """
    if schedule.phrase is None:
        return {}
    normalized = schedules.to_dict(schedule)
    errors: dict[str, list[str]] = {}
    for key in ("kind", "cron", "every", "unit", "at"):
        sent = data.get(key)
        if sent is None or sent == "":
            continue
        expected = normalized.get(key)
        if key == "at" and expected is not None:
            try:
                same = datetime.fromisoformat(str(sent)) == datetime.fromisoformat(expected)
            except (TypeError, ValueError):
                same = False
        elif key == "cron":
            same = " ".join(str(sent).split()) == expected
        else:
            same = sent == expected
        if not same:
            shown = "no value" if expected is None else f'"{expected}"'
            errors[f"schedule.{key}"] = [
                f'Does not match the phrase "{schedule.phrase}", which means {key} {shown}; '
                "send either the phrase or the fields."
            ]
    return errors


def _validate_action(
    data: Any, *, is_staff: bool, stored_headers: Mapping[str, str] | None, stored_url: str = ""
) -> dict[str, Any]:
    """Return the model fields for an action dict (http or task).

    A header sent without a value keeps its stored value only while the URL
    stays on the same origin (scheme, host, port): a stored secret goes only
    where its owner entered it for, so an edit of the URL (by staff, say)
    cannot send the owner's token to another host.
    """
    if not isinstance(data, Mapping):
        raise ValidationError({"action": ['Must be an object with a "type" of "http" or "task".']})
    errors: dict[str, list[str]] = {}
    kind = data.get("type")
    fields: dict[str, Any] = {
        "http_method": "",
        "http_url": "",
        "http_headers": {},
        "http_body": "",
        "http_expected_status": [],
        "http_follow_redirects": False,
        "task_name": "",
        "task_args": [],
        "task_kwargs": {},
    }
    allowed_keys = {
        "http": {"type", "method", "url", "headers", "body", "expected_status", "follow_redirects"},
        "task": {"type", "task", "args", "kwargs"},
    }
    # An object or a list is unhashable: the membership test alone would raise TypeError (a 500).
    if not isinstance(kind, str) or kind not in allowed_keys:
        raise ValidationError({"action.type": ['Must be "http" or "task".']})
    for key in data:
        if key not in allowed_keys[kind]:
            errors[f"action.{key}"] = [
                f"Unknown field for a {kind} action; allowed: {', '.join(sorted(allowed_keys[kind]))}."
            ]
    fields["action_type"] = kind
    if kind == ActionType.HTTP:
        method = str(data.get("method") or "GET").upper()
        if method not in HTTP_METHODS:
            errors["action.method"] = [f"Must be one of {', '.join(HTTP_METHODS)}."]
        url = data.get("url")
        if not isinstance(url, str) or not url:
            errors["action.url"] = ["This field is required."]
        elif len(url) > 2000:
            errors["action.url"] = ["Must be at most 2000 characters."]
        else:
            try:
                # The literal URL only (no DNS here: an answer now proves nothing
                # about the run); every run checks the addresses it connects to.
                egress.policy_for(settings).check_url(url)
            except egress.EgressRefused as exc:
                errors["action.url"] = [f"This URL is not allowed: {exc.why}."]
        headers = data.get("headers") or {}
        clean_headers: dict[str, str] = {}
        if not isinstance(headers, Mapping):
            errors["action.headers"] = ["Must be an object of header names to values."]
        else:
            for name, value in headers.items():
                if not isinstance(name, str) or not _HEADER_NAME.match(name):
                    errors[f"action.headers.{name}"] = ["Not a valid header name."]
                    continue
                if value is None or value == "" or value == MASK:
                    # An update that omits a value keeps the stored secret, on the same origin.
                    kept = _stored_header(stored_headers, name)
                    if kept is None:
                        errors[f"action.headers.{name}"] = ["A value is required for a new header."]
                    elif isinstance(url, str) and _origin(url) != _origin(stored_url):
                        errors[f"action.headers.{name}"] = [
                            "Enter the value again: the URL's host changed, and a stored value is only sent "
                            "to the host it was entered for."
                        ]
                    else:
                        clean_headers[name] = kept
                elif not isinstance(value, str) or "\n" in value or "\r" in value:
                    errors[f"action.headers.{name}"] = ["Must be a single-line string."]
                elif not _latin1(value):
                    errors[f"action.headers.{name}"] = [
                        "Must be Latin-1 text (HTTP cannot send other characters in a header); encode it first."
                    ]
                else:
                    clean_headers[name] = value
        body = data.get("body", "")
        if body is None:
            body = ""
        if not isinstance(body, str):
            errors["action.body"] = ["Must be a string."]
        expected = data.get("expected_status")
        if expected in (None, []):
            expected = []
        elif not isinstance(expected, list) or not all(
            isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in expected
        ):
            errors["action.expected_status"] = ["Must be a list of HTTP status codes (100-599); empty means any 2xx."]
            expected = []  # mixed values (200, "abc") cannot be sorted; the error above is what counts
        follow = data.get("follow_redirects", False)
        if follow is None:
            follow = False
        if not isinstance(follow, bool):
            errors["action.follow_redirects"] = ["Must be true or false."]
            follow = False
        fields.update(
            http_method=method,
            http_url=url if isinstance(url, str) else "",
            http_headers=clean_headers,
            http_body=body if isinstance(body, str) else "",
            http_expected_status=sorted(set(expected)) if isinstance(expected, list) else [],
            http_follow_redirects=follow,
        )
    else:
        name = data.get("task")
        task = registry.get(name) if isinstance(name, str) else None
        if task is None:
            names = ", ".join(t.name for t in registry.available(for_staff=is_staff))
            errors["action.task"] = [f'Unknown task "{name}"; registered tasks: {names}.']
        elif task.system_only and not is_staff:
            errors["action.task"] = [f'Task "{name}" is system-only; only staff may schedule it.']
        args = data.get("args", [])
        kwargs = data.get("kwargs", {})
        if args is None:
            args = []
        if kwargs is None:
            kwargs = {}
        if not isinstance(args, list):
            errors["action.args"] = ["Must be a JSON array."]
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            errors["action.kwargs"] = ["Must be a JSON object."]
        fields.update(task_name=name if isinstance(name, str) else "", task_args=args, task_kwargs=kwargs)
    if not errors:
        errors.update(_action_size_errors(fields))
    if errors:
        raise ValidationError(errors)
    return fields


def _action_size_errors(fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """Errors for an otherwise valid action that carries more than the bounds above allow."""
    errors: dict[str, list[str]] = {}
    headers = fields["http_headers"]
    if len(headers) > MAX_HEADERS:
        errors["action.headers"] = [f"At most {MAX_HEADERS} headers; got {len(headers)}."]
    for name, value in headers.items():
        if len(name) > MAX_HEADER_NAME_CHARS or len(value) > MAX_HEADER_VALUE_CHARS:
            errors[f"action.headers.{name[:MAX_HEADER_NAME_CHARS]}"] = [
                f"Names are at most {MAX_HEADER_NAME_CHARS} characters, values at most {MAX_HEADER_VALUE_CHARS}."
            ]
            break
    if len(fields["http_body"].encode("utf-8")) > MAX_HTTP_BODY_BYTES:
        errors["action.body"] = [f"Must be at most {MAX_HTTP_BODY_BYTES} bytes (UTF-8)."]
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them (a 500).
        text = json.dumps([fields["task_args"], fields["task_kwargs"]], ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        errors["action.kwargs"] = ["Must be plain JSON (objects, arrays, strings, numbers, true/false/null)."]
    else:
        if size > MAX_TASK_ARGUMENTS_BYTES:
            errors["action.kwargs"] = [
                f"args and kwargs together must be at most {MAX_TASK_ARGUMENTS_BYTES} bytes of JSON; got {size}."
            ]
    return errors


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in; a URL that does not parse has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", None)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").rstrip("."), port or {"http": 80, "https": 443}.get(scheme))


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _stored_header(stored: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (stored or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _validate_policies(values: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field, value in values.items():
        if field in POLICY_BOUNDS:
            low, high = POLICY_BOUNDS[field]
            if value is None and field in ("pause_after_failures", "alert_late_after_seconds"):
                out[field] = None
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                errors[field] = [f"Must be a whole number from {low} to {high}."]
                continue
        elif field == "overlap_policy" and value not in OverlapPolicy.values:
            errors[field] = [f"Must be one of: {', '.join(OverlapPolicy.values)}."]
            continue
        elif field == "catchup_policy" and value not in CatchupPolicy.values:
            errors[field] = [f"Must be one of: {', '.join(CatchupPolicy.values)}."]
            continue
        elif field in ("enabled", "alerts_enabled") and not isinstance(value, bool):
            errors[field] = ["Must be true or false."]
            continue
        elif field == "description":
            if value is None:
                value = ""
            if not isinstance(value, str) or len(value) > 10_000:
                errors[field] = ["Must be text of at most 10000 characters."]
                continue
        out[field] = value
    if errors:
        raise ValidationError(errors)
    return out


def _validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": ["This field is required."]})
    name = name.strip()
    if len(name) > 200:
        raise ValidationError({"name": ["Must be at most 200 characters."]})
    return name


def _schedule_fields(schedule: schedules.Schedule) -> dict[str, Any]:
    return {
        "schedule_kind": schedule.kind,
        "cron": schedule.cron or "",
        "interval_every": schedule.every,
        "interval_unit": schedule.unit or "",
        "interval_anchor": schedule.anchor if schedule.kind == "interval" else None,
        "once_at": schedule.at,
        "timezone": schedule.timezone,
        "phrase": schedule.phrase or "",
    }


def compute_next_run_at(job: Job, *, after: datetime | None = None) -> datetime | None:
    """The job's next slot strictly after `after` (default now), or None while paused/finished."""
    if not job.enabled:
        return None
    try:
        nxt = schedules.next_fire_time(job.schedule, after=after or _now())
    except schedules.ScheduleError as exc:  # a stored schedule no release can compute: edit it
        raise ValidationError({"schedule": [exc.message]}) from exc
    return nxt.astimezone(UTC) if nxt else None


# --- audit ---------------------------------------------------------------------


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {"actor": None, "actor_name": SYSTEM}
    return {"actor": actor, "actor_name": actor.get_username()}


def _event(job: Job, actor: Any, kind: str, changes: dict[str, Any] | None = None) -> JobEvent:
    return JobEvent(
        job=job, job_ref=job.id, job_name=job.name, kind=kind, changes=changes or {}, **_actor_fields(actor)
    )


def record_event(job: Job, actor: Any, kind: str, changes: dict[str, Any] | None = None) -> JobEvent:
    event = _event(job, actor, kind, changes)
    event.save(force_insert=True)
    return event


def _after_write(job: Job | None, owner_id: Any) -> None:
    """What every job write must do besides the row itself (inside the write's transaction).

    The mirror row is written with the job; the cache is invalidated once
    the transaction commits (`jobs.cache.invalidate`).
    """
    job_cache.invalidate([owner_id])
    if job is not None:
        mirror.sync_job(job)


# --- writes --------------------------------------------------------------------


def job_create(*, owner: Any, actor: Any, data: Mapping[str, Any]) -> Job:
    """Create a job from wire-format data ({name, schedule, action, policies...})."""
    now = _now()
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(SETTABLE_FIELDS)
    for key in sorted(unknown):
        errors[key] = ["Unknown field."]
    fields: dict[str, Any] = {}
    for step in (
        lambda: fields.update(name=_validate_name(data.get("name"))),
        lambda: fields.update(_schedule_fields(validate_schedule(data.get("schedule"), now=now))),
        lambda: fields.update(
            _validate_action(data.get("action"), is_staff=_is_staff(actor, owner), stored_headers=None)
        ),
        lambda: fields.update(
            _validate_policies({**POLICY_DEFAULTS, **{k: v for k, v in data.items() if k in POLICY_DEFAULTS}})
        ),
        lambda: fields.update(alert_channels=job_channel_ids(owner=owner, ids=data.get("alert_channels", []))),
    ):
        try:
            step()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    # A soft bound (two creates racing may both pass at the limit): it stops a
    # runaway script, it is not an accounting rule.
    if Job.objects.filter(owner=owner).count() >= settings.JOBS_MAX_PER_USER:
        raise JobLimitReached(settings.JOBS_MAX_PER_USER)
    job = Job(owner=owner, **fields)
    job.next_run_at = compute_next_run_at(job, after=now)
    # One transaction for the row, its audit event and its mirror (one commit
    # instead of three). On a standalone MongoDB server, with no
    # transactions, the job is written first: a duplicate name fails before
    # anything is written, and a failure after it leaves a mirror row that
    # the job's next write or the next beat start repairs.
    with store.current().atomic():
        try:
            _insert_new(job, _event(job, actor, EventKind.CREATED))
        except IntegrityError as exc:
            # The owner already has a job of this name: the unique constraint
            # (a unique index on MongoDB) answers, with nothing written yet.
            # A query asking first cost every create a statement, and could
            # not close the race with an identical create anyway.
            raise DuplicateJobName(fields["name"]) from exc
        _after_write(None, owner.pk)  # the mirror is written with the job
    return job


def _insert_new(job: Job, event: JobEvent) -> None:
    """A new job's row (first: a duplicate name fails before anything is written), its event and its mirror."""
    # The mirror row points at a shared schedule row: where that exists, the
    # store may write all three rows at once (one statement on PostgreSQL).
    task, field, schedule = mirror.new_entry(job)
    if not store.current().insert_then_reference_first([job, event], task, field=field, match=schedule):
        mirror.sync_job(job, created=True)


def job_update(*, job: Job, actor: Any, data: Mapping[str, Any], partial: bool = True) -> Job:
    """Apply changes (wire format). With partial=False, omitted optional fields reset to defaults."""
    now = _now()
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - set(SETTABLE_FIELDS)):
        errors[key] = ["Unknown field."]
    if not partial:
        for required in ("name", "schedule", "action"):
            if required not in data:
                errors[required] = ["This field is required."]
        data = {**POLICY_DEFAULTS, "enabled": job.enabled, **data}
    new: dict[str, Any] = {}
    if "name" in data:
        try:
            new["name"] = _validate_name(data["name"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "schedule" in data:
        try:
            candidate = validate_schedule(data["schedule"], now=now)
            if _same_schedule(job.schedule, candidate):
                # An unchanged interval keeps its anchor, so its slots do not move.
                candidate = job.schedule
            new.update(_schedule_fields(candidate))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "action" in data:
        try:
            new.update(
                _validate_action(
                    data["action"],
                    is_staff=_is_staff(actor, job.owner),
                    stored_headers=job.http_headers,
                    stored_url=job.http_url,
                )
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
    policies = {k: v for k, v in data.items() if k in POLICY_DEFAULTS}
    try:
        new.update(_validate_policies(policies))
        if "alert_channels" in new:
            new["alert_channels"] = job_channel_ids(owner=job.owner, ids=new["alert_channels"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)

    name_taken = Job.objects.filter(owner_id=job.owner_id, name=new.get("name")).exclude(pk=job.pk)
    if "name" in new and new["name"] != job.name and name_taken.exists():
        raise DuplicateJobName(new["name"])
    enabled_change = new.pop("enabled", job.enabled)
    with store.current().atomic():
        return _apply_update(job, actor, new, enabled_change=enabled_change, now=now)


def _apply_update(job: Job, actor: Any, new: dict[str, Any], *, enabled_change: bool, now: datetime) -> Job:
    changes: dict[str, Any] = {}
    for field, value in new.items():
        old = getattr(job, field)
        if old != value:
            secret = field == "http_headers"
            changes[field] = {
                "old": _masked(old) if secret else _jsonable(old),
                "new": _masked(value) if secret else _jsonable(value),
            }
            if secret:
                changes[field]["summary"] = _header_changes(old, value)
            setattr(job, field, value)
    if changes:
        update_fields = [*changes, "updated_at"]
        if SCHEDULE_FIELDS & set(changes):
            # Only a schedule change moves the next slot; recomputing otherwise
            # could skip a slot that is due but not yet claimed by beat.
            job.next_run_at = compute_next_run_at(job, after=now)
            update_fields.append("next_run_at")
            claims.withdraw_ahead([job.pk], now=now)  # a slot of the old schedule claimed ahead does not run
        try:
            # Only the edited columns: run summaries (last_status,
            # recent_outcomes, ...) written by workers meanwhile stay intact.
            job.save(update_fields=update_fields)
        except IntegrityError as exc:
            raise DuplicateJobName(job.name) from exc
        record_event(job, actor, EventKind.UPDATED, changes)
    if enabled_change != job.enabled:
        job = job_resume(job=job, actor=actor) if enabled_change else job_pause(job=job, actor=actor)
    elif changes:
        _after_write(job, job.owner_id)
    return job


def _same_schedule(old: schedules.Schedule, new: schedules.Schedule) -> bool:
    keys = ("kind", "timezone", "cron", "every", "unit", "at", "phrase")
    return all(getattr(old, key) == getattr(new, key) for key in keys)


def _masked(headers: Any) -> dict[str, str]:
    return {key: MASK for key in (headers or {})}


def _header_changes(old: Any, new: Any) -> list[str]:
    """What an edit did to the headers, by name only ("header X-Token: changed"): values stay secret."""
    old, new = old or {}, new or {}
    summary = []
    for name in sorted({*old, *new}, key=str.lower):
        if name not in old:
            summary.append(f"header {name}: added")
        elif name not in new:
            summary.append(f"header {name}: removed")
        elif old[name] != new[name]:
            summary.append(f"header {name}: changed")
    return summary


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _is_staff(actor: Any, owner: Any) -> bool:
    return bool(getattr(actor, "is_staff", False)) if actor is not None else True


def job_pause(*, job: Job, actor: Any, reason: str = PauseReason.USER, kind: str = EventKind.PAUSED) -> Job:
    if not job.enabled:
        return job
    with store.current().atomic():
        job.enabled = False
        job.paused_reason = reason
        job.next_run_at = None
        job.save(update_fields=["enabled", "paused_reason", "next_run_at", "updated_at"])
        claims.withdraw_ahead([job.pk])  # slots claimed ahead of the pause do not run
        record_event(job, actor, kind, {"reason": reason} if reason != PauseReason.USER else None)
        _after_write(job, job.owner_id)
        alert_after_pause(job=job, reason=reason)  # auto-paused, owner deactivated; never raises
    return job


def job_resume(*, job: Job, actor: Any) -> Job:
    """Re-enable a job. It fires at its next slot after now, never for slots missed while paused."""
    if job.enabled:
        return job
    if job.paused_reason == PauseReason.OWNER_DEACTIVATED and not getattr(actor, "is_staff", False):
        raise PermissionDenied("This job was paused because its owner was deactivated; only staff can resume it.")
    with store.current().atomic():
        job.enabled = True
        job.paused_reason = PauseReason.NONE
        job.consecutive_failures = 0
        job.next_run_at = compute_next_run_at(job)
        job.save(update_fields=["enabled", "paused_reason", "consecutive_failures", "next_run_at", "updated_at"])
        record_event(job, actor, EventKind.RESUMED)
        _after_write(job, job.owner_id)
    return job


def job_delete(*, job: Job, actor: Any) -> None:
    """Delete a job and its runs; its audit trail stays (the `deleted` event first, the job last)."""
    owner_id = job.owner_id
    with store.current().atomic():
        record_event(job, actor, EventKind.DELETED)
        mirror.remove_job(job)
        job.delete()
        _after_write(None, owner_id)


def job_duplicate(*, job: Job, actor: Any) -> Job:
    """A paused copy named "<name> (copy)", "<name> (copy 2)", ..."""
    base = f"{job.name} (copy)"
    name, n = base, 1
    while Job.objects.filter(owner_id=job.owner_id, name=name).exists():
        n += 1
        name = f"{job.name} (copy {n})"
    data = job_to_spec(job)
    data.update(name=name[:200], enabled=False)
    if job.action_type == ActionType.HTTP:
        # Secrets are copied, not re-entered (job_to_spec masks them, and a
        # masked value is only accepted as "keep" when updating a job).
        data["action"]["headers"] = dict(job.http_headers)
    if job.schedule_kind == "once" and job.once_at and job.once_at <= _now():
        raise ValidationError({"schedule.at": ["This one-off job's time has passed; it cannot be duplicated."]})
    return job_create(owner=job.owner, actor=actor, data=data)


def job_to_spec(job: Job) -> dict[str, Any]:
    """The wire-format data that would recreate this job (header values masked)."""
    schedule = schedules.to_dict(job.schedule)
    schedule.pop("anchor", None)
    if job.action_type == ActionType.HTTP:
        action: dict[str, Any] = {
            "type": "http",
            "method": job.http_method,
            "url": job.http_url,
            "headers": job.masked_headers,
            "body": job.http_body,
            "expected_status": job.http_expected_status,
            "follow_redirects": job.http_follow_redirects,
        }
    else:
        action = {"type": "task", "task": job.task_name, "args": job.task_args, "kwargs": job.task_kwargs}
    return {
        "name": job.name,
        "description": job.description,
        "schedule": schedule,
        "action": action,
        "enabled": job.enabled,
        **{field: getattr(job, field) for field in POLICY_DEFAULTS if field not in ("description", "enabled")},
    }


def jobs_pause_for_deactivated_owner(*, owner: Any) -> int:
    """Pause every enabled job of a deactivated user (events by `system`)."""
    count = 0
    for job in Job.objects.filter(owner=owner, enabled=True):
        job_pause(job=job, actor=None, reason=PauseReason.OWNER_DEACTIVATED)
        count += 1
    return count
