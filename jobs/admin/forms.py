"""The admin's job form: plain inputs in, wire-format dicts out, the services decide.

The form does not validate schedules, actions or policies itself. It turns its
inputs into the same wire-format dicts the REST API receives and calls
`job_create` / `job_update`; the ValidationError those raise (keyed by dotted
paths such as `schedule.cron`) is mapped back onto the inputs, so an operator
sees exactly the messages an API client gets. Form-level checks are limited to
what cannot be expressed on the wire (text that is not JSON, a date that is
not a date).
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone as django_timezone
from django.utils.html import format_html, format_html_join

from jobs import schedules, services
from jobs.diagnostics.display import format_local, relative
from jobs.execution import registry
from jobs.models import MASK, ActionType, CatchupPolicy, Job, OverlapPolicy
from scheduler_site.parsers import MAX_JSON_DEPTH, depth_exceeds, unstorable

PHRASE = "phrase"
KIND_CHOICES = [
    (PHRASE, "Phrase"),
    ("interval", "Interval"),
    ("cron", "Cron"),
    ("once", "Once"),
]
UNIT_CHOICES = [(unit, unit) for unit in schedules.UNITS]
PREVIEW_COUNT = 5
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


@cache
def timezone_names() -> tuple[str, ...]:
    # "localtime" and friends are not real IANA keys; the schedules module rejects them.
    return tuple(sorted(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"}))


class DatalistInput(forms.TextInput):
    """A text input with a <datalist> of suggestions: type "Berl" and pick Europe/Berlin.

    Free text rather than a <select>, so an unknown zone reaches the service
    and gets the API's message.
    """

    def __init__(self, options: Any, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.options = options

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        attrs = {**(attrs or {}), "list": f"{name}-choices", "autocomplete": "off"}
        return super().get_context(name, value, attrs)

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        options = format_html_join("", '<option value="{}">', ((option,) for option in self.options()))
        return format_html(
            '{}<datalist id="{}-choices">{}</datalist>', super().render(name, value, attrs, renderer), name, options
        )


class LooseChoiceField(forms.ChoiceField):
    """A <select> whose value is checked by the service, not the form (same message as the API)."""

    def valid_value(self, value: Any) -> bool:
        return True


def _task_choices() -> list[tuple[str, str]]:
    tasks = registry.available(for_staff=True)
    return [("", "---------")] + [
        (task.name, f"{task.name} — {task.description}" if task.description else task.name) for task in tasks
    ]


class ScheduleForm(forms.Form):
    """The schedule inputs: a kind chosen first (or a phrase), that kind's fields, a time zone."""

    kind = forms.ChoiceField(
        label="Schedule",
        choices=KIND_CHOICES,
        initial=PHRASE,
        widget=forms.RadioSelect(attrs={"class": "schedule-kind"}),
        help_text="Describe it in words, or choose a kind and fill in only its fields.",
    )
    phrase = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "every monday at 09:00", "size": 40}),
        help_text='e.g. "every 15 minutes", "daily at 06:30", "weekdays at 9am", "on 2031-01-01 at 00:00".',
    )
    every = forms.IntegerField(required=False, label="Every", widget=forms.NumberInput(attrs={"style": "width:6em"}))
    unit = forms.ChoiceField(required=False, choices=[("", "---------"), *UNIT_CHOICES], initial="minutes")
    cron = forms.CharField(
        required=False,
        label="Cron expression",
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "*/15 * * * *", "size": 24, "class": "vTextField monospace"}),
        help_text="minute hour day-of-month month day-of-week, evaluated in the time zone below.",
    )
    at = forms.CharField(
        required=False,
        label="At",
        # step=1: a saved time with seconds (from the API) is shown and posted back whole; with the
        # default step of 60 a browser would refuse it, and minutes alone would move the job.
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=_LOCAL_FORMAT),
        help_text="Local date and time in the time zone below.",
    )
    timezone = forms.CharField(
        label="Time zone",
        required=False,
        initial="UTC",
        widget=DatalistInput(timezone_names, attrs={"placeholder": "UTC", "size": 30}),
        help_text="IANA name; cron schedules and phrases follow its daylight-saving rules.",
    )

    def clean_at(self) -> datetime | None:
        value = (self.cleaned_data.get("at") or "").strip()
        if not value:
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("Enter a date and time such as 2031-01-01T09:00.") from None

    def schedule_data(self) -> dict[str, Any]:
        """The wire-format schedule dict for what was entered."""
        data = self.cleaned_data
        zone = str(schedules.canonical_zone((data.get("timezone") or "").strip() or "UTC"))
        kind = data.get("kind") or PHRASE
        if kind == PHRASE:
            phrase = data.get("phrase") or ""
            if schedules.zone_in_phrase(phrase) and "timezone" not in self.changed_data:
                # The zone field was left as it was: the zone the phrase names wins. Changed too, the
                # two must agree (the conflict is an error naming both).
                return {"phrase": phrase}
            return {"phrase": phrase, "timezone": zone}
        out: dict[str, Any] = {"kind": kind, "timezone": zone}
        if kind == "interval":
            out.update(every=data.get("every"), unit=data.get("unit") or None)
        elif kind == "cron":
            out["cron"] = data.get("cron") or ""
        elif kind == "once":
            at = data.get("at")
            if at is not None and at.utcoffset() is None:
                # The input is a wall-clock time in the chosen zone (UTC while
                # that zone is invalid, so only the zone's own error shows).
                at = at.replace(tzinfo=ZoneInfo(zone if zone in timezone_names() else "UTC"))
            out["at"] = at.isoformat() if at else None
        return out

    def field_for_error(self, key: str) -> tuple[str | None, str]:
        """The input a service error key belongs to, and a prefix for its message."""
        kind = (self.cleaned_data or {}).get("kind") or PHRASE
        field = {
            "schedule": "kind",
            "schedule.kind": PHRASE if kind == PHRASE else "kind",
            "schedule.phrase": PHRASE,
            "schedule.cron": "cron",
            "schedule.every": "every",
            "schedule.unit": "unit",
            "schedule.at": "at",
            "schedule.timezone": "timezone",
        }.get(key)
        if field in self.fields:
            return field, ""
        return None, "" if key == NON_FIELD_ERRORS else f"{key}: "

    def add_service_errors(self, error: ValidationError) -> None:
        for key, messages in error.message_dict.items():
            field, prefix = self.field_for_error(key)
            for message in messages:
                self.add_error(field, f"{prefix}{message}")

    def preview(self, *, now: datetime | None = None, count: int = PREVIEW_COUNT) -> dict[str, Any]:
        """The next fire times of the entered schedule, or the errors the service reports."""
        now = now or django_timezone.now()
        if not self.is_valid():
            return {"ok": False, "errors": self.errors.get_json_data()}
        try:
            schedule = services.validate_schedule(self.schedule_data(), now=now)
        except ValidationError as exc:
            self.add_service_errors(exc)
            return {"ok": False, "errors": self.errors.get_json_data()}
        return {"ok": True, "human": schedules.describe(schedule), **fire_times(schedule, now=now, count=count)}


def fire_times(schedule: schedules.Schedule, *, now: datetime, count: int = PREVIEW_COUNT) -> dict[str, Any]:
    """The next fire times as the admin shows them: local time, UTC and relative."""
    times = schedules.next_fire_times(schedule, after=now, count=count)
    return {
        "timezone": schedule.timezone,
        "next_runs": [
            {
                "iso": fire.isoformat(),
                "local": format_local(fire),
                "utc": format_local(fire.astimezone(UTC)),
                "relative": relative(fire, now, depth=2),
            }
            for fire in times
        ],
    }


class JobAdminForm(forms.ModelForm, ScheduleForm):
    """Create or edit a job: builds the API's wire format and calls the services."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "vTextField"}))
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True),
        help_text="The user the job belongs to (its API calls and quotas are theirs).",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    enabled = forms.BooleanField(required=False, initial=True, help_text="Unticked: the job is saved paused.")

    action_type = forms.ChoiceField(
        label="Action",
        choices=[(ActionType.HTTP, "HTTP request"), (ActionType.TASK, "Registered task")],
        initial=ActionType.HTTP,
        widget=forms.RadioSelect(attrs={"class": "action-type"}),
    )
    http_method = LooseChoiceField(
        label="Method", required=False, choices=[(m, m) for m in services.HTTP_METHODS], initial="GET"
    )
    http_url = forms.CharField(
        label="URL",
        required=False,
        widget=forms.TextInput(attrs={"class": "vURLField", "placeholder": "https://example.com/hook"}),
    )
    http_headers = forms.CharField(
        label="Headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "monospace"}),
        help_text=f"One “Name: value” per line. Stored values show as {MASK}; leave {MASK} to keep a value.",
    )
    http_body = forms.CharField(
        label="Body", required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "monospace"})
    )
    http_expected_status = forms.CharField(
        label="Expected status",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "200, 204"}),
        help_text="Comma-separated status codes; empty means any 2xx.",
    )
    http_follow_redirects = forms.BooleanField(
        label="Follow redirects",
        required=False,
        help_text="Off: a redirect is the run's result. On: up to 5 hops, each checked by the egress policy; "
        "headers go only to the URL's own host.",
    )
    task = LooseChoiceField(label="Task", required=False, choices=_task_choices)
    task_args = forms.CharField(
        label="Arguments",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "monospace", "placeholder": "[]"}),
        help_text="A JSON array of positional arguments.",
    )
    task_kwargs = forms.CharField(
        label="Keyword arguments",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "monospace", "placeholder": "{}"}),
        help_text="A JSON object of keyword arguments.",
    )

    timeout_seconds = forms.IntegerField(
        initial=services.POLICY_DEFAULTS["timeout_seconds"],
        help_text="Seconds a run may take; a longer run is ended and recorded timed out.",
    )
    max_retries = forms.IntegerField(
        initial=services.POLICY_DEFAULTS["max_retries"],
        help_text="Further attempts of a failed or timed-out slot (0: none); a slot fails when its last attempt does.",
    )
    retry_backoff_seconds = forms.IntegerField(
        initial=services.POLICY_DEFAULTS["retry_backoff_seconds"],
        help_text="Seconds before the first retry; each further retry waits twice as long.",
    )
    overlap_policy = LooseChoiceField(
        choices=OverlapPolicy.choices,
        initial=OverlapPolicy.SKIP,
        help_text="When a slot comes while the previous run is still running: skip the new slot, or run both.",
    )
    catchup_policy = LooseChoiceField(
        choices=CatchupPolicy.choices,
        initial=CatchupPolicy.SKIP,
        help_text="Slots missed while no scheduler ran: record them missed, or also run the latest one once.",
    )
    jitter_seconds = forms.IntegerField(
        initial=services.POLICY_DEFAULTS["jitter_seconds"],
        help_text="Start each run up to this many seconds after its slot (a stable random delay per job).",
    )
    pause_after_failures = forms.IntegerField(
        required=False, help_text="Pause the job after this many failed slots in a row. Empty: never pause."
    )

    # Set by the ModelAdmin (JobAdmin.get_form): the user making the change.
    actor: Any = None

    class Meta:
        model = Job
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            if self.actor is not None and "owner" in self.fields:
                self.fields["owner"].initial = self.actor.pk
        else:
            # A job's owner never changes; the change page shows it as a link
            # (`JobAdmin.owner_link`), so a browser never posts it.
            self.fields.pop("owner", None)
            self.initial.update(initial_from_job(self.instance))
        for name in ("timeout_seconds", "max_retries", "retry_backoff_seconds", "jitter_seconds"):
            if name in self.fields:
                self.fields[name].widget.attrs.setdefault("style", "width:7em")
        if "pause_after_failures" in self.fields:
            self.fields["pause_after_failures"].widget.attrs.setdefault("style", "width:7em")

    # --- wire format -------------------------------------------------------------

    def action_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        if data.get("action_type") == ActionType.TASK:
            return {
                "type": "task",
                "task": data.get("task") or "",
                "args": data.get("task_args"),
                "kwargs": data.get("task_kwargs"),
            }
        return {
            "type": data.get("action_type") or "",
            "method": data.get("http_method") or "GET",
            "url": data.get("http_url") or "",
            "headers": data.get("http_headers") or {},
            "body": data.get("http_body") or "",
            "expected_status": data.get("http_expected_status") or [],
            "follow_redirects": bool(data.get("http_follow_redirects")),
        }

    def job_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {
            "name": data.get("name"),
            "description": data.get("description") or "",
            "schedule": self.schedule_data(),
            "action": self.action_data(),
            "enabled": bool(data.get("enabled")),
        }
        for field in (
            "timeout_seconds",
            "max_retries",
            "retry_backoff_seconds",
            "overlap_policy",
            "catchup_policy",
            "jitter_seconds",
        ):
            if data.get(field) is not None and data.get(field) != "":
                out[field] = data[field]
        out["pause_after_failures"] = data.get("pause_after_failures")
        if not self.instance._state.adding:
            # Not on this form (the API sets them): a save here keeps them, rather than resetting them.
            out["alerts_enabled"] = self.instance.alerts_enabled
            out["alert_channels"] = list(self.instance.alert_channels or [])
            out["alert_late_after_seconds"] = self.instance.alert_late_after_seconds
        return out

    # --- parsing inputs that are not plain values on the wire ---------------------

    def clean_http_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for line in (self.cleaned_data.get("http_headers") or "").splitlines():
            if not line.strip():
                continue
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        return headers

    def clean_http_expected_status(self) -> list[Any]:
        raw = self.cleaned_data.get("http_expected_status") or ""
        codes: list[Any] = []
        for token in raw.replace(";", ",").split(","):
            token = token.strip()
            if token:
                # Anything not a number goes to the service as-is: its message is the API's.
                codes.append(int(token) if token.isdigit() else token)
        return codes

    def _clean_json(self, field: str, kind: type, example: str) -> Any:
        raw = (self.cleaned_data.get(field) or "").strip()
        if not raw:
            return kind()
        try:
            value = json.loads(raw)
        except RecursionError:
            value = None  # nested past the decoder's recursion limit: refused below like any too-deep value
            too_deep = True
        except ValueError as exc:  # JSONDecodeError has .msg; an integer past 4,300 digits is a plain ValueError
            reason = getattr(exc, "msg", None) or "a number has too many digits"
            raise ValidationError(f"Not valid JSON ({reason}); expected e.g. {example}.") from None
        else:
            too_deep = depth_exceeds(value, MAX_JSON_DEPTH)
        if too_deep:
            raise ValidationError(f"Nested more than {MAX_JSON_DEPTH} levels deep; expected e.g. {example}.")
        # What the API's parser refuses too: NaN/Infinity (Python's json reads them; PostgreSQL's JSON
        # refuses them, a 500 at the save), NUL characters and unpaired surrogates.
        problem = unstorable(value)
        if problem is not None:
            raise ValidationError(f"Not storable: {problem}; expected e.g. {example}.")
        return value

    def clean_task_args(self) -> Any:
        return self._clean_json("task_args", list, '["a", 1]')

    def clean_task_kwargs(self) -> Any:
        return self._clean_json("task_kwargs", dict, '{"key": "value"}')

    # --- the write ---------------------------------------------------------------

    def field_for_error(self, key: str) -> tuple[str | None, str]:
        if key.startswith("action.headers."):
            return "http_headers", f"{key.removeprefix('action.headers.')}: "
        action_fields = {
            "action": "action_type",
            "action.type": "action_type",
            "action.method": "http_method",
            "action.url": "http_url",
            "action.headers": "http_headers",
            "action.body": "http_body",
            "action.expected_status": "http_expected_status",
            "action.follow_redirects": "http_follow_redirects",
            "action.task": "task",
            "action.args": "task_args",
            "action.kwargs": "task_kwargs",
        }
        if key in action_fields:
            return action_fields[key], ""
        if key.startswith("schedule"):
            return super().field_for_error(key)
        return (key, "") if key in self.fields else (None, f"{key}: ")

    def _post_clean(self) -> None:
        # A ModelForm validates its instance here. The service is the validator
        # (and writes in the same step), so it replaces the model checks.
        if self.errors:
            return
        try:
            if self.instance._state.adding:
                self.instance = services.job_create(
                    owner=self.cleaned_data["owner"], actor=self.actor, data=self.job_data()
                )
            else:
                self.instance = services.job_update(
                    job=self.instance, actor=self.actor, data=self.job_data(), partial=False
                )
        except ValidationError as exc:
            self.add_service_errors(exc)


def _local_input(local: datetime) -> str:
    """A datetime-local input's value: seconds only when the instant has them."""
    return local.strftime(_LOCAL_FORMAT + (":%S" if local.second else ""))


def initial_from_job(job: Job) -> dict[str, Any]:
    """Form values for an existing job, from the same spec the API returns (headers masked)."""
    spec = services.job_to_spec(job)
    schedule, action = spec["schedule"], spec["action"]
    try:
        tz = ZoneInfo(job.timezone)
    except (KeyError, ValueError):  # a zone tzdata no longer has: the form shows it, validation asks for another
        tz = ZoneInfo("UTC")
    initial: dict[str, Any] = {
        "name": job.name,
        "owner": job.owner_id,
        "description": job.description,
        "enabled": job.enabled,
        "kind": PHRASE if job.phrase else job.schedule_kind,
        "phrase": job.phrase,
        "every": job.interval_every,
        "unit": job.interval_unit or "minutes",
        "cron": job.cron,
        "at": _local_input(job.once_at.astimezone(tz)) if job.once_at else "",
        "timezone": schedule["timezone"],
        "action_type": action["type"],
        **{field: spec[field] for field in services.POLICY_DEFAULTS if field not in ("description", "enabled")},
    }
    if action["type"] == ActionType.HTTP:
        initial.update(
            http_method=action["method"],
            http_url=action["url"],
            http_headers="\n".join(f"{name}: {value}" for name, value in action["headers"].items()),
            http_body=action["body"],
            http_expected_status=", ".join(str(code) for code in action["expected_status"]),
            http_follow_redirects=action["follow_redirects"],
        )
    else:
        initial.update(
            task=action["task"],
            task_args=json.dumps(action["args"]) if action["args"] else "",
            task_kwargs=json.dumps(action["kwargs"]) if action["kwargs"] else "",
        )
    return initial
