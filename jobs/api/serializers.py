"""The jobs API's wire format.

Request serializers are thin on purpose: they check the *shape* of a request
(a JSON object, no unknown fields) and drop what is read-only (so a `PUT` of
what a `GET` returned works), then hand the raw values to `jobs.services`,
which validates types, bounds and rules once for the API and the admin alike
and raises errors keyed by dotted paths (`schedule.cron`). Their declared
fields exist to describe the wire format in the OpenAPI schema; the bounds
shown there come from the services' own constants.

Response serializers render jobs, runs and events. Header values of http
actions are never rendered: they are shown as MASK.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.fields import empty

from jobs import schedules, selectors
from jobs.models import (
    MASK,
    ActionType,
    Alert,
    AlertDelivery,
    AlertKind,
    CatchupPolicy,
    Channel,
    ChannelKind,
    DeliveryStatus,
    EventKind,
    Job,
    JobEvent,
    JobRun,
    OverlapPolicy,
    PauseReason,
    RunStatus,
    RunTrigger,
    ScheduleKind,
)
from jobs.services import HTTP_METHODS, POLICY_BOUNDS
from jobs.services.alerts import MAX_CHANNELS_PER_JOB
from scheduler_site.openapi import closed

NEXT_RUNS = 5
FOLLOW_REDIRECTS_HELP = (
    "Off (default): a 3xx answer is the run's result. On: up to 5 redirects are followed, each checked by the "
    "egress policy; the job's headers are sent only to the URL's own origin (scheme, host, port)."
)
PREVIEW_MAX = 50

# Keys a client may send back unchanged and that are ignored.
JOB_READ_ONLY_KEYS = frozenset(
    {"id", "owner", "next_run_at", "last_run_at", "last_status", "paused_reason", "created_at", "updated_at"}
)
SCHEDULE_KEYS = ("phrase", "kind", "timezone", "cron", "every", "unit", "at")
SCHEDULE_READ_ONLY_KEYS = frozenset({"anchor", "human", "next_runs"})


# --- schedules ---------------------------------------------------------------------------


def _timezone_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, default="UTC", allow_null=True, help_text="IANA time zone name; null means UTC."
    )


@closed(ignored=SCHEDULE_READ_ONLY_KEYS)
class PhraseScheduleInputSerializer(serializers.Serializer):
    """A schedule given as a phrase; other fields sent beside it must agree with it (as in what a GET returned)."""

    phrase = serializers.CharField(
        min_length=1,
        help_text='English phrase, e.g. "every monday at 09:00", "every 15 minutes", "on 2031-01-01 at 12:00".',
    )
    timezone = _timezone_field()
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False)
    cron = serializers.CharField(required=False)
    every = serializers.IntegerField(required=False, min_value=1)
    unit = serializers.ChoiceField(choices=tuple(schedules.UNITS), required=False)
    at = serializers.DateTimeField(required=False)


@closed(ignored=SCHEDULE_READ_ONLY_KEYS)
class IntervalScheduleInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ScheduleKind.INTERVAL.value])
    every = serializers.IntegerField(min_value=1, help_text="How many units between fire times.")
    unit = serializers.ChoiceField(choices=tuple(schedules.UNITS))
    timezone = _timezone_field()


@closed(ignored=SCHEDULE_READ_ONLY_KEYS)
class CronScheduleInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ScheduleKind.CRON.value])
    cron = serializers.CharField(help_text="A 5-field cron expression.")
    timezone = _timezone_field()


@closed(ignored=SCHEDULE_READ_ONLY_KEYS)
class OnceScheduleInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ScheduleKind.ONCE.value])
    at = serializers.DateTimeField(help_text="A future instant with a UTC offset.")
    timezone = _timezone_field()


#: A schedule as sent: a `phrase` (which wins over the other fields), or a `kind` with its fields.
#: `anchor`, `human` and `next_runs` (what a GET returns besides) are ignored.
SCHEDULE_INPUT_SCHEMA = PolymorphicProxySerializer(
    component_name="ScheduleInput",
    serializers=[
        PhraseScheduleInputSerializer,
        IntervalScheduleInputSerializer,
        CronScheduleInputSerializer,
        OnceScheduleInputSerializer,
    ],
    resource_type_field_name=None,
)


class ScheduleSerializer(serializers.Serializer):
    """A schedule as returned: normalized fields, the phrase if one was given, text and the next fire times."""

    kind = serializers.ChoiceField(choices=ScheduleKind.choices, read_only=True)
    timezone = serializers.CharField(read_only=True)
    cron = serializers.CharField(required=False, help_text="`cron` kind.")
    every = serializers.IntegerField(required=False, help_text="`interval` kind.")
    unit = serializers.ChoiceField(choices=tuple(schedules.UNITS), required=False, help_text="`interval` kind.")
    anchor = serializers.DateTimeField(
        required=False, help_text="`interval` kind: slots are anchor + k * interval (set when the schedule is saved)."
    )
    at = serializers.DateTimeField(required=False, help_text="`once` kind.")
    phrase = serializers.CharField(required=False, help_text="The phrase, if the schedule was given as one.")
    human = serializers.CharField(read_only=True, help_text='e.g. "Every Monday at 09:00 (Europe/Berlin)".')
    next_runs = serializers.ListField(
        child=serializers.DateTimeField(),
        read_only=True,
        help_text="The next fire times with the schedule's UTC offset; empty while the job is paused.",
    )


def schedule_representation(
    schedule: schedules.Schedule, *, now: datetime, count: int = NEXT_RUNS, active: bool = True
) -> dict[str, Any]:
    return schedule_with_fire_times(schedule, now=now, count=count, active=active)[0]


def schedule_with_fire_times(
    schedule: schedules.Schedule, *, now: datetime, count: int = NEXT_RUNS, active: bool = True
) -> tuple[dict[str, Any], list[datetime]]:
    """The schedule's representation, and the fire times in its `next_runs`.

    A stored schedule that cannot be computed is shown with its problem in
    `human` and no fire times: one bad row must not fail a page of others.
    """
    data = schedules.to_dict(schedule)
    data["human"] = schedules.describe(schedule)
    try:
        fire_times = schedules.next_fire_times(schedule, after=now, count=count) if active else []
    except schedules.ScheduleError as exc:
        data["human"] = exc.message
        fire_times = []
    data["next_runs"] = [when.isoformat() for when in fire_times]
    return data, fire_times


class _RawField(serializers.Field):
    """Passes a JSON value through to the services (which validate it) after a shape check."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(SCHEDULE_INPUT_SCHEMA)
class ScheduleInputField(_RawField):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError('Must be an object such as {"phrase": "every 15 minutes"}.')
        unknown = set(data) - set(SCHEDULE_KEYS) - SCHEDULE_READ_ONLY_KEYS
        if unknown:
            allowed = ", ".join(SCHEDULE_KEYS)
            raise serializers.ValidationError({key: [f"Unknown field; allowed: {allowed}."] for key in sorted(unknown)})
        return {key: value for key, value in data.items() if key in SCHEDULE_KEYS}


# --- actions -----------------------------------------------------------------------------


class HttpActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[ActionType.HTTP.value], read_only=True)
    method = serializers.ChoiceField(choices=HTTP_METHODS, read_only=True)
    url = serializers.URLField(read_only=True)
    headers = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text=f'Header names; every value is shown as "{MASK}".'
    )
    body = serializers.CharField(read_only=True)
    expected_status = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="Accepted status codes; empty means any 2xx."
    )
    follow_redirects = serializers.BooleanField(read_only=True, help_text=FOLLOW_REDIRECTS_HELP)


class TaskActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[ActionType.TASK.value], read_only=True)
    task = serializers.CharField(read_only=True)
    args = serializers.ListField(child=serializers.JSONField(), read_only=True)
    kwargs = serializers.DictField(child=serializers.JSONField(), read_only=True)


@closed
class HttpActionInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[ActionType.HTTP.value])
    method = serializers.ChoiceField(choices=HTTP_METHODS, required=False, default="GET")
    url = serializers.URLField(
        help_text="Absolute http:// or https:// URL. Refused (400) when ambiguous (credentials, backslashes, IPv4 "
        "not written as a.b.c.d) or when its host is an address the egress policy does not allow (loopback, "
        "link-local, private unless allowed by the operator, this service's own database, cache or broker)."
    )
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text=f'Header values are secrets: write-only. On update, a value that is empty or "{MASK}" keeps the '
        "stored one.",
    )
    body = serializers.CharField(required=False, allow_blank=True, default="")
    expected_status = serializers.ListField(
        child=serializers.IntegerField(min_value=100, max_value=599),
        required=False,
        help_text="Accepted status codes; empty (default) means any 2xx.",
    )
    follow_redirects = serializers.BooleanField(required=False, default=False, help_text=FOLLOW_REDIRECTS_HELP)


@closed
class TaskActionInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[ActionType.TASK.value])
    task = serializers.CharField(help_text="A registered task name, e.g. `echo`.")
    args = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True, help_text="null: [].")
    kwargs = serializers.DictField(
        child=serializers.JSONField(), required=False, allow_null=True, help_text="null: {}."
    )


ACTION_SCHEMA = PolymorphicProxySerializer(
    component_name="Action",
    serializers={ActionType.HTTP.value: HttpActionSerializer, ActionType.TASK.value: TaskActionSerializer},
    resource_type_field_name="type",
)
ACTION_INPUT_SCHEMA = PolymorphicProxySerializer(
    component_name="ActionInput",
    serializers={ActionType.HTTP.value: HttpActionInputSerializer, ActionType.TASK.value: TaskActionInputSerializer},
    resource_type_field_name="type",
)


def action_representation(row: Mapping[str, Any]) -> dict[str, Any]:
    """The `action` of a job's representation, from its `JOB_COLUMNS` (see `job_row`)."""
    if row["action_type"] == ActionType.HTTP:
        return {
            "type": ActionType.HTTP.value,
            "method": row["http_method"],
            "url": row["http_url"],
            "headers": {name: MASK for name in row["http_headers"] or {}},
            "body": row["http_body"],
            "expected_status": row["http_expected_status"],
            "follow_redirects": row["http_follow_redirects"],
        }
    return {
        "type": ActionType.TASK.value,
        "task": row["task_name"],
        "args": row["task_args"],
        "kwargs": row["task_kwargs"],
    }


@extend_schema_field(ACTION_INPUT_SCHEMA)
class ActionInputField(_RawField):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError('Must be an object with a "type" of "http" or "task".')
        # Unknown keys are checked by the service (they depend on the type);
        # masked header values sent back mean "keep the stored value" there.
        return dict(data)


# --- jobs --------------------------------------------------------------------------------


def _policy_int(name: str, **kwargs: Any) -> serializers.IntegerField:
    low, high = POLICY_BOUNDS[name]
    return serializers.IntegerField(min_value=low, max_value=high, required=False, **kwargs)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A weekly task",
            request_only=True,
            value={
                "name": "weekly-report",
                "schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
                "action": {"type": "task", "task": "echo", "kwargs": {"hello": "world"}},
            },
        ),
        OpenApiExample(
            "An http call on a cron schedule",
            request_only=True,
            value={
                "name": "hourly-hook",
                "schedule": {"kind": "cron", "cron": "5 * * * *"},
                "action": {
                    "type": "http",
                    "method": "POST",
                    "url": "https://example.com/hook",
                    "headers": {"Authorization": "Bearer ..."},
                    "expected_status": [200, 202],
                },
                "max_retries": 2,
            },
        ),
    ]
)
@closed(ignored=JOB_READ_ONLY_KEYS)
class JobWriteSerializer(serializers.Serializer):
    """Create (`POST`), replace (`PUT`) or change (`PATCH`) a job.

    Unknown fields are a 400. Read-only fields of the job representation are
    ignored, so a `PUT` of what a `GET` returned is accepted. On `PUT`,
    optional fields left out return to their defaults.
    """

    name = serializers.CharField(max_length=200, help_text="Unique among the owner's jobs.")
    description = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="null means empty."
    )
    schedule = ScheduleInputField()
    action = ActionInputField()
    enabled = serializers.BooleanField(required=False, default=True)
    timeout_seconds = _policy_int("timeout_seconds", default=60, help_text="Limit on the whole run.")
    max_retries = _policy_int("max_retries", default=0)
    retry_backoff_seconds = _policy_int("retry_backoff_seconds", default=10)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices, required=False, default=OverlapPolicy.SKIP)
    catchup_policy = serializers.ChoiceField(choices=CatchupPolicy.choices, required=False, default=CatchupPolicy.SKIP)
    jitter_seconds = _policy_int("jitter_seconds", default=0, help_text="Start up to this long after the slot.")
    pause_after_failures = _policy_int(
        "pause_after_failures",
        allow_null=True,
        help_text="Pause after this many consecutive failed slots (a slot fails when its last attempt does).",
    )
    alerts_enabled = serializers.BooleanField(
        required=False, default=True, help_text="Alert the owner when the job fails, recovers or is paused."
    )
    alert_channels = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=MAX_CHANNELS_PER_JOB,
        help_text="Ids of the owner's alert channels; empty: the owner's default channels.",
    )
    alert_late_after_seconds = _policy_int(
        "alert_late_after_seconds",
        allow_null=True,
        help_text="Alert when a scheduled run starts more than this many seconds after its slot; null: never.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        errors: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in JOB_READ_ONLY_KEYS:
                continue
            # The declarations, not `self.fields`: binding them deep-copies
            # every field (a tenth of a create), and the shape check below
            # needs none of what binding adds.
            field = self._declared_fields.get(key)
            if field is None:
                errors[key] = ["Unknown field."]
                continue
            try:
                out[key] = field.to_internal_value(value) if isinstance(field, _RawField) else value
            except serializers.ValidationError as exc:
                errors[key] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return out

    def run_validators(self, value: Any) -> None:
        # Serializer.run_validators binds every field to look for read-only
        # ones with defaults; there are none (and no validators either).
        serializers.Field.run_validators(self, value)


class PatchFields:
    """For a `PATCH` serializer: every field optional, and none reset to its default (only the fields sent change)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            field.required = False
            field.default = empty
        return fields


class JobChangeSerializer(PatchFields, JobWriteSerializer):
    """Change a job (`PATCH`): only the fields sent change; `schedule` and `action` are replaced whole."""


def _iso(value: datetime | None) -> str | None:
    """What DRF's DateTimeField renders: ISO 8601 in UTC, with "Z" for +00:00."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


#: What a job's representation is built from. A page of jobs is read as
#: `values(*JOB_COLUMNS)` and rendered from those rows: building a model
#: instance per row (and one for its owner) cost a third of an uncached list.
JOB_COLUMNS = (
    "id",
    "name",
    "description",
    "owner__username",
    *Job.SCHEDULE_FIELDS,
    "action_type",
    "http_method",
    "http_url",
    "http_headers",
    "http_body",
    "http_expected_status",
    "http_follow_redirects",
    "task_name",
    "task_args",
    "task_kwargs",
    "enabled",
    "paused_reason",
    "next_run_at",
    "last_run_at",
    "last_status",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "overlap_policy",
    "catchup_policy",
    "jitter_seconds",
    "pause_after_failures",
    "alerts_enabled",
    "alert_channels",
    "alert_late_after_seconds",
    "created_at",
    "updated_at",
)
_COLUMN_GETTERS = tuple((column, operator.attrgetter(column.replace("__", "."))) for column in JOB_COLUMNS)


def job_row(job: Job) -> dict[str, Any]:
    """A job's `JOB_COLUMNS`, as `values(*JOB_COLUMNS)` reads them."""
    return {column: get(job) for column, get in _COLUMN_GETTERS}


class JobSerializer(serializers.Serializer):
    """A job as the API returns it."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, help_text="The owner's username.")
    schedule = serializers.SerializerMethodField()
    action = serializers.SerializerMethodField()
    enabled = serializers.BooleanField(read_only=True)
    paused_reason = serializers.ChoiceField(
        choices=PauseReason.choices, read_only=True, help_text="Why a paused job is paused; empty while enabled."
    )
    next_run_at = serializers.SerializerMethodField(
        help_text="When the job runs next (null while paused): a slot already claimed counts until it comes."
    )
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_status = serializers.ChoiceField(
        choices=[("", "never run"), *RunStatus.choices], read_only=True, help_text="Empty until the first run."
    )
    timeout_seconds = serializers.IntegerField(read_only=True)
    max_retries = serializers.IntegerField(read_only=True)
    retry_backoff_seconds = serializers.IntegerField(read_only=True)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices, read_only=True)
    catchup_policy = serializers.ChoiceField(choices=CatchupPolicy.choices, read_only=True)
    jitter_seconds = serializers.IntegerField(read_only=True)
    pause_after_failures = serializers.IntegerField(read_only=True, allow_null=True)
    alerts_enabled = serializers.BooleanField(read_only=True)
    alert_channels = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="Empty: the owner's default channels."
    )
    alert_late_after_seconds = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def _now(self) -> datetime:
        # One instant per response, so every row's next_runs agree.
        if "now" not in self.context:
            self.context["now"] = timezone.now()
        return self.context["now"]

    def to_representation(self, job: Job) -> dict[str, Any]:
        return _row_representation(job_row(job), self._now())

    def rows_representation(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Jobs read as `values(*JOB_COLUMNS)`, each as `to_representation` renders the job."""
        now = self._now()
        return [_row_representation(row, now) for row in rows]

    @extend_schema_field(ScheduleSerializer)
    def get_schedule(self, job: Job) -> dict[str, Any]:
        return schedule_representation(job.schedule, now=self._now(), active=job.enabled)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, job: Job) -> str | None:
        return _row_representation(job_row(job), self._now())["next_run_at"]

    @extend_schema_field(ACTION_SCHEMA)
    def get_action(self, job: Job) -> dict[str, Any]:
        return action_representation(job_row(job))


def _row_representation(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """JobSerializer's declared fields, written out by hand, from a row of `JOB_COLUMNS`.

    The declarations drive validation of nothing (all read-only) and the
    OpenAPI schema; walking them field by field cost more than computing a
    page of 50 jobs. tests/jobs/api/test_serializers.py pins this to be
    identical to DRF's generic rendering of the declared fields.
    """
    schedule, fire_times = schedule_with_fire_times(Job.schedule_from(row), now=now, active=row["enabled"])
    next_run_at = selectors.next_run_at(
        stored=row["next_run_at"], enabled=row["enabled"], first_fire=fire_times[0] if fire_times else None
    )
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "owner": row["owner__username"],
        "schedule": schedule,
        "action": action_representation(row),
        "enabled": row["enabled"],
        "paused_reason": row["paused_reason"],
        "next_run_at": _iso(next_run_at),
        "last_run_at": _iso(row["last_run_at"]),
        "last_status": row["last_status"],
        "timeout_seconds": row["timeout_seconds"],
        "max_retries": row["max_retries"],
        "retry_backoff_seconds": row["retry_backoff_seconds"],
        "overlap_policy": row["overlap_policy"],
        "catchup_policy": row["catchup_policy"],
        "jitter_seconds": row["jitter_seconds"],
        "pause_after_failures": row["pause_after_failures"],
        "alerts_enabled": row["alerts_enabled"],
        "alert_channels": [str(pk) for pk in row["alert_channels"] or []],
        "alert_late_after_seconds": row["alert_late_after_seconds"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


# --- runs and events --------------------------------------------------------------------


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class JobRunSerializer(serializers.ModelSerializer):
    trigger = serializers.ChoiceField(choices=RunTrigger.choices, read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    lateness_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="How long after its slot the run started."
    )

    class Meta:
        model = JobRun
        fields = (
            "id",
            "scheduled_for",
            "trigger",
            "attempt",
            "status",
            "reason",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "lateness_seconds",
            "result",
            "error",
            "worker",
        )
        read_only_fields = fields

    def to_representation(self, run: JobRun) -> dict[str, Any]:
        data = super().to_representation(run)
        # Defence in depth: a run's output must never echo the job's secret
        # header values back (an endpoint may reflect request headers).
        secrets = self.context.get("secrets") or []
        if secrets:
            for key in ("result", "error", "reason"):
                data[key] = _redact(data[key], secrets)
        return data


class JobEventSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_ref", read_only=True, help_text="The job's id (kept after deletion).")
    actor = serializers.CharField(source="actor_name", read_only=True, help_text='A username, or "system".')
    kind = serializers.ChoiceField(choices=EventKind.choices, read_only=True)
    changes = serializers.DictField(
        read_only=True,
        help_text='For `updated`: {"field": {"old": ..., "new": ...}} with header values masked; '
        'for `run_requested`: {"run_id": ...}.',
    )

    class Meta:
        model = JobEvent
        fields = ("id", "job", "job_name", "actor", "kind", "changes", "created_at")
        read_only_fields = fields

    def to_representation(self, event: JobEvent) -> dict[str, Any]:
        data = super().to_representation(event)
        headers = data["changes"].get("http_headers")
        if isinstance(headers, Mapping):
            data["changes"]["http_headers"] = {
                side: {name: MASK for name in (value or {})} if isinstance(value, Mapping) else value
                for side, value in headers.items()
            }
        return data


class RunRequestedSerializer(serializers.Serializer):
    run_id = serializers.UUIDField(read_only=True)


# --- schedule preview --------------------------------------------------------------------


@closed
class SchedulePreviewInputSerializer(serializers.Serializer):
    schedule = ScheduleInputField()
    count = serializers.IntegerField(
        required=False, default=NEXT_RUNS, min_value=1, max_value=PREVIEW_MAX, help_text="How many fire times."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class SchedulePreviewSerializer(serializers.Serializer):
    schedule = ScheduleSerializer(read_only=True)


# --- alerts ---------------------------------------------------------------------------------

CHANNEL_READ_ONLY_KEYS = frozenset({"id", "owner", "broken_since", "created_at"})


class ChannelSerializer(serializers.ModelSerializer):
    """An alert channel as the API returns it. Its webhook secret is never shown again after the create."""

    owner = serializers.CharField(source="owner.username", read_only=True, help_text="The owner's username.")
    kind = serializers.ChoiceField(choices=ChannelKind.choices, read_only=True)
    broken_since = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Set once every delivery has failed for a day; null while it works."
    )

    class Meta:
        model = Channel
        fields = ("id", "name", "owner", "kind", "target", "is_default", "broken_since", "created_at")
        read_only_fields = fields


class ChannelCreatedSerializer(ChannelSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Webhooks: the signing secret, shown in this answer only (empty for email and slack). "
        "Each post carries X-Scheduler-Timestamp and X-Scheduler-Signature = hex HMAC-SHA256(secret, "
        '"{timestamp}.{body}").',
    )

    class Meta(ChannelSerializer.Meta):
        fields = (*ChannelSerializer.Meta.fields, "secret")
        read_only_fields = fields


@closed(ignored=CHANNEL_READ_ONLY_KEYS)
class ChannelWriteSerializer(serializers.Serializer):
    """Create a channel (`POST`) or change one (`PATCH`). Unknown fields are a 400; its kind cannot change."""

    name = serializers.CharField(max_length=100, help_text="Unique among the owner's channels.")
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    target = serializers.CharField(
        max_length=2000,
        help_text="An email address, or the URL (http or https) a webhook or Slack message is posted to; "
        "URLs are subject to the egress policy of http actions.",
    )
    is_default = serializers.BooleanField(
        required=False, default=True, help_text="Alerts of jobs that name no channels go to the default ones."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # The shape only (an object, no unknown keys); the service validates the values.
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self._declared_fields) - CHANNEL_READ_ONLY_KEYS)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return {key: value for key, value in data.items() if key in self._declared_fields}

    def run_validators(self, value: Any) -> None:
        serializers.Field.run_validators(self, value)


class ChannelChangeSerializer(PatchFields, ChannelWriteSerializer):
    """Change a channel (`PATCH`): only the fields sent change."""


class AlertDeliverySerializer(serializers.ModelSerializer):
    channel = serializers.UUIDField(source="channel_id", read_only=True)
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)
    last_response_code = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The HTTP status of the latest attempt (webhook, slack)."
    )
    last_error = serializers.CharField(read_only=True, help_text="Why the latest attempt failed; empty once sent.")

    class Meta:
        model = AlertDelivery
        fields = (
            "id",
            "channel",
            "channel_name",
            "status",
            "attempts",
            "last_response_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "sent_at",
        )
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_ref", read_only=True, allow_null=True, help_text="The job's id.")
    kind = serializers.ChoiceField(choices=AlertKind.choices, read_only=True)
    details = serializers.DictField(
        read_only=True, help_text="run_id, status, reason, attempts and an error excerpt; never a secret."
    )
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = ("id", "job", "job_name", "kind", "slot", "details", "created_at", "deliveries")
        read_only_fields = fields
