"""Jobs, their runs and their audit trail.

UUID keys let one set of migrations serve SQLite, PostgreSQL and MongoDB. No
rule here relies on transactions or row locks (no-ops on MongoDB): a run's
slot is claimed by inserting `JobRun.claim_key` under a unique index, and
state changes that processes race on are conditional single-row updates.

Ready to shard (docs/mongodb-audit.md, "Sharding"): on a sharded collection
every unique index must start with the shard key, `_id` excepted. So the
UUID keys are stored in `_id` (`db_column="_id"`: on MongoDB the document's
own key, with no second unique index; on SQL a column named `_id`), and the
claim is unique per job, its index led by `job_id`, the runs' shard key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models

from jobs import schedules


class ScheduleKind(models.TextChoices):
    INTERVAL = "interval"
    CRON = "cron"
    ONCE = "once"


class ActionType(models.TextChoices):
    HTTP = "http"
    TASK = "task"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    MISSED = "missed"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    CATCHUP = "catchup"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip"
    ALLOW = "allow"


class CatchupPolicy(models.TextChoices):
    SKIP = "skip"
    ONCE = "once"


class PauseReason(models.TextChoices):
    NONE = "", "not paused"
    USER = "user", "paused by a user"
    OWNER_DEACTIVATED = "owner_deactivated", "owner deactivated"
    AUTO = "auto", "paused after repeated failures"
    FINISHED = "finished", "one-off run done"


FINISHED_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.SKIPPED,
    RunStatus.MISSED,
)
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FAILED_STATUSES = (RunStatus.FAILED, RunStatus.TIMED_OUT)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")

    # Schedule: one of three kinds (see jobs.schedules for the rules).
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices)
    cron = models.CharField(max_length=120, blank=True, default="")
    interval_every = models.PositiveIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=10, blank=True, default="")
    interval_anchor = models.DateTimeField(null=True, blank=True)
    once_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    phrase = models.CharField(max_length=200, blank=True, default="")

    # Action: an HTTP call or a registered task.
    action_type = models.CharField(max_length=10, choices=ActionType.choices)
    http_method = models.CharField(max_length=10, blank=True, default="")
    http_url = models.CharField(max_length=2000, blank=True, default="")
    http_headers = models.JSONField(default=dict, blank=True)
    http_body = models.TextField(blank=True, default="")
    http_expected_status = models.JSONField(default=list, blank=True)
    # Off: a 3xx answer is the run's result. On: up to 5 hops, each checked by the egress policy.
    http_follow_redirects = models.BooleanField(default=False)
    task_name = models.CharField(max_length=200, blank=True, default="")
    task_args = models.JSONField(default=list, blank=True)
    task_kwargs = models.JSONField(default=dict, blank=True)

    # State.
    enabled = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=20, choices=PauseReason.choices, blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=10, choices=RunStatus.choices, blank=True, default="")
    # Outcomes of the latest runs, newest first ([{"id", "status", "at"}], at
    # most RECENT_OUTCOMES): lets list pages show a history strip without a
    # query per row, on every backend (MongoDB has no sliced prefetch).
    recent_outcomes = models.JSONField(default=list, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    # Policies.
    timeout_seconds = models.PositiveIntegerField(default=60)
    max_retries = models.PositiveSmallIntegerField(default=0)
    retry_backoff_seconds = models.PositiveIntegerField(default=10)
    overlap_policy = models.CharField(max_length=10, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    catchup_policy = models.CharField(max_length=10, choices=CatchupPolicy.choices, default=CatchupPolicy.SKIP)
    jitter_seconds = models.PositiveIntegerField(default=0)
    pause_after_failures = models.PositiveIntegerField(null=True, blank=True)

    # Alerts (jobs/alerts/): on by default, to the owner's default channels
    # unless `alert_channels` names some. A list of Channel ids rather than a
    # ManyToManyField: its auto-created through table would take the
    # database's default auto field, and one migration could no longer serve
    # SQLite, PostgreSQL and MongoDB (docs/mongodb.md: own models use UUIDs).
    alerts_enabled = models.BooleanField(default=True)
    alert_channels = models.JSONField(default=list, blank=True)
    # A scheduled run starting more than this many seconds after its slot is a `late` alert (null: never).
    alert_late_after_seconds = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    RECENT_OUTCOMES = 20

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="job_unique_name_per_owner")]
        indexes = [models.Index(fields=["owner", "created_at"], name="job_owner_created")]

    #: The columns `schedule` is built from.
    SCHEDULE_FIELDS = (
        "schedule_kind",
        "cron",
        "interval_every",
        "interval_unit",
        "interval_anchor",
        "once_at",
        "timezone",
        "phrase",
    )

    def __str__(self) -> str:
        return self.name

    @property
    def schedule(self) -> schedules.Schedule:
        """The job's schedule as the pure schedules module sees it."""
        return Job.schedule_from({name: getattr(self, name) for name in Job.SCHEDULE_FIELDS})

    @staticmethod
    def schedule_from(columns: Mapping[str, Any]) -> schedules.Schedule:
        """A schedule from the `SCHEDULE_FIELDS` columns (a `values()` row, an audit event's old state)."""
        return schedules.Schedule(
            kind=columns["schedule_kind"],
            timezone=columns["timezone"] or "UTC",
            cron=columns["cron"] or None,
            every=columns["interval_every"],
            unit=columns["interval_unit"] or None,
            anchor=columns["interval_anchor"],
            at=columns["once_at"],
            phrase=columns["phrase"] or None,
        )

    @property
    def masked_headers(self) -> dict[str, str]:
        return {key: MASK for key in (self.http_headers or {})}


MASK = "••••"


class JobRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    scheduled_for = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    reason = models.CharField(max_length=200, blank=True, default="")
    # The claim (built by jobs.execution.claims.claim_key): unique per (job,
    # slot, trigger, attempt) for scheduled, retry and catch-up runs, so a
    # second beat, a redelivered message or a duplicated publish loses the
    # insert and records nothing. Manual runs carry their own id. Unique per
    # job (`run_claim_per_job`, led by the runs' shard key), so every lookup
    # by claim also names the job. Never null.
    claim_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    result = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-scheduled_for", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["job", "claim_key"], name="run_claim_per_job")]
        indexes = [
            models.Index(fields=["job", "-scheduled_for"], name="run_job_scheduled"),
            models.Index(fields=["status", "started_at"], name="run_status_started"),
            models.Index(fields=["created_at"], name="run_created"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def lateness_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds()


class EventKind(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    PAUSED = "paused"
    RESUMED = "resumed"
    RUN_REQUESTED = "run_requested"
    DELETED = "deleted"
    AUTO_PAUSED = "auto_paused"


class JobEvent(models.Model):
    """The audit trail. Outlives its job (job_ref and job_name stay)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    job_ref = models.UUIDField(db_index=True)
    job_name = models.CharField(max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # username, or "system"
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    # For `updated`: {"field": {"old": ..., "new": ...}} (secrets masked).
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["job_ref", "-created_at"], name="event_job_created")]

    def __str__(self) -> str:
        return f"{self.job_name}: {self.kind} by {self.actor_name}"


class BeatLease(models.Model):
    """Which beat is in charge (jobs.beat.lease): one row per lease name, changed only by compare-and-set.

    `holder` and `seq` are what beats compare; `generation` counts takeovers
    (the fencing token: a beat acts only on the generation it won); the times
    are for people (the admin overview, /readyz) and are never compared across
    machines.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    name = models.CharField(max_length=40, unique=True)
    holder = models.CharField(max_length=200, blank=True)  # "" when released
    seq = models.BigIntegerField(default=0)  # bumped by every renewal and takeover
    generation = models.BigIntegerField(default=0)  # bumped by every takeover
    acquired_at = models.DateTimeField(null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or 'released'} (generation {self.generation})"


# --- alerts ------------------------------------------------------------------------------


class ChannelKind(models.TextChoices):
    EMAIL = "email"
    WEBHOOK = "webhook"
    SLACK = "slack"


class Channel(models.Model):
    """Where a user's alerts go: an email address, a signed webhook, or a Slack-compatible incoming webhook."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    # An email address, or the URL a webhook or Slack message is posted to.
    target = models.CharField(max_length=2000)
    # Webhooks are signed with it (HMAC-SHA256); shown once, when the channel is created.
    # Kept as is: signing needs the secret itself, not a hash of it.
    secret = models.CharField(max_length=100, blank=True, default="")
    # A job that names no channels alerts its owner's default ones.
    is_default = models.BooleanField(default=True)
    # Set when deliveries to it have failed for ALERTS_BROKEN_AFTER_SECONDS; cleared by a delivery that works.
    broken_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="channel_unique_name_per_owner")]
        indexes = [models.Index(fields=["owner", "is_default"], name="channel_owner_default")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertKind(models.TextChoices):
    FAILED = "failed"
    RECOVERED = "recovered"
    PAUSED = "paused"
    MISSED = "missed"
    LATE = "late"
    STUCK = "stuck"
    BROKEN = "broken"  # a channel failing for ALERTS_BROKEN_AFTER_SECONDS, told through the owner's others
    TEST = "test"


class Alert(models.Model):
    """One change of a job's state worth telling its owner about. Outlives its job (job_ref, job_name).

    `job_ref` is null for alerts about no job: a channel test, a broken channel.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    job_ref = models.UUIDField(null=True, blank=True)
    job_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=AlertKind.choices)
    # The slot the alert is about, when there is one (failed, recovered).
    slot = models.DateTimeField(null=True, blank=True)
    # {"run_id", "status", "reason", "error", "attempts", "consecutive_failures", ...}; never a secret.
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["job_ref", "-created_at"], name="alert_job_created")]

    def __str__(self) -> str:
        return f"{self.job_name}: {self.kind}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AlertDelivery(models.Model):
    """One alert sent to one channel: every attempt is counted here, the latest one's answer kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="_id")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["alert", "created_at"], name="delivery_alert_created"),
            models.Index(fields=["channel", "status", "created_at"], name="delivery_channel_status"),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel_id} ({self.status})"
