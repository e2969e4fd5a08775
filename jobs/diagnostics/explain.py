"""Why did (or didn't) a job run? Every slot the schedule expected in a window, and what became of it.

The answer is rebuilt from three records, each kept for its own reason:

* the schedule in force at each moment: the job's current schedule, walked
  back through the audit trail's `updated` events, whose `changes` hold each
  schedule field's old and new value (interval anchors included, so an
  edited interval's slots are the ones the edit actually produced);
* pauses: `paused`, `auto_paused` and `resumed` events (a job created
  disabled is paused from its creation);
* runs: matched to slots by `scheduled_for` (retries and catch-up runs keep
  their slot's time), compared at millisecond precision because MongoDB
  stores no finer.

Each slot gets one outcome, judged in this order: before the job existed; a
recorded run (skipped, missed, in progress, failed and retried, failed, ran
late, ran on time); paused at that time; beyond the retained run history
(RUNS_RETENTION_DAYS: runs older than that are pruned, so no record says
what happened); due moments ago (pending); otherwise missed with no run at
all. Manual runs, and runs at times that are no slot of the schedule then in
force, are listed beside the slots.

Reads only; the management command `explain` and the API's
`GET /api/v1/jobs/{id}/explain/` present the same `Explanation`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from jobs import schedules
from jobs.execution import policies
from jobs.models import EventKind, Job, JobEvent, JobRun, PauseReason, RunStatus, RunTrigger

DEFAULT_LATE_AFTER = timedelta(seconds=10)
MAX_SLOTS = 10_000
MAX_WINDOW = timedelta(days=366)
SCHEDULE_FIELDS = Job.SCHEDULE_FIELDS
_DATETIME_FIELDS = ("interval_anchor", "once_at")
# ASCII digits, at most 12 (far past MAX_WINDOW): int() refuses more than 4300 digits.
_SINCE = re.compile(r"^\s*(\d{1,12})\s*([smhdw])\s*$", re.IGNORECASE | re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Outcome(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    SKIPPED = "skipped"
    MISSED = "missed"
    PAUSED = "paused"
    FAILED = "failed"
    RETRIED = "retried"
    IN_PROGRESS = "in_progress"
    PENDING = "pending"
    BEFORE_CREATED = "before_created"
    BEYOND_RETENTION = "beyond_retention"


OUTCOME_LABELS = {
    Outcome.ON_TIME: "ran on time",
    Outcome.LATE: "ran late",
    Outcome.SKIPPED: "skipped",
    Outcome.MISSED: "missed",
    Outcome.PAUSED: "paused",
    Outcome.FAILED: "failed",
    Outcome.RETRIED: "failed and retried",
    Outcome.IN_PROGRESS: "in progress",
    Outcome.PENDING: "due, not yet dispatched",
    Outcome.BEFORE_CREATED: "before the job existed",
    Outcome.BEYOND_RETENTION: "beyond the retained history",
}


class SinceError(ValueError):
    """A `since` value that is neither a duration (30m, 24h, 7d) nor an ISO 8601 time in the past."""


# --- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSpan:
    start: datetime  # in force after this instant (UTC)
    end: datetime | None  # ...until this one (None: still in force)
    schedule: schedules.Schedule
    by: str  # who created the job or made the edit

    @property
    def description(self) -> str:
        return schedules.describe(self.schedule)  # an interval's text names its anchor


@dataclass(frozen=True)
class PauseSpan:
    start: datetime
    end: datetime | None  # None: still paused
    reason: str

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment <= self.end)


@dataclass(frozen=True)
class RunInfo:
    id: str
    trigger: str
    attempt: int
    status: str
    reason: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error: str

    @property
    def lateness_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds()

    @classmethod
    def of(cls, run: JobRun) -> RunInfo:
        return cls(
            id=str(run.pk),
            trigger=run.trigger,
            attempt=run.attempt,
            status=run.status,
            reason=run.reason,
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_ms=run.duration_ms,
            error=next(iter((run.error or "").strip().splitlines()), "")[:200],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "status": self.status,
            "reason": self.reason,
            "scheduled_for": _iso(self.scheduled_for),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_ms": self.duration_ms,
            "lateness_seconds": _round(self.lateness_seconds),
            "error": self.error,
        }


@dataclass(frozen=True)
class SlotReport:
    at: datetime  # UTC
    outcome: Outcome
    detail: str
    schedule: str
    lateness_seconds: float | None = None
    runs: tuple[RunInfo, ...] = ()

    def to_dict(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "local": self.at.astimezone(tz).isoformat(),
            "outcome": str(self.outcome),
            "detail": self.detail,
            "schedule": self.schedule,
            "lateness_seconds": _round(self.lateness_seconds),
            "runs": [run.to_dict() for run in self.runs],
        }


@dataclass
class Explanation:
    job_id: str
    job_name: str
    timezone: str
    now: datetime
    window_start: datetime
    window_end: datetime
    retention_days: int
    retention_start: datetime
    created_at: datetime
    schedules: list[ScheduleSpan]
    pauses: list[PauseSpan]
    slots: list[SlotReport]
    other_runs: list[tuple[RunInfo, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    slots_not_shown: int = 0

    @property
    def summary(self) -> dict[str, int]:
        counts = {str(outcome): 0 for outcome in Outcome}
        for slot in self.slots:
            counts[str(slot.outcome)] += 1
        return {key: value for key, value in counts.items() if value}

    def to_dict(self) -> dict[str, Any]:
        tz = ZoneInfo(self.timezone)
        return {
            "job": {"id": self.job_id, "name": self.job_name, "timezone": self.timezone},
            "now": _iso(self.now),
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "created_at": _iso(self.created_at),
            "retention": {"days": self.retention_days, "start": _iso(self.retention_start)},
            "schedules": [
                {"from": _iso(s.start), "until": _iso(s.end), "description": s.description, "by": s.by}
                for s in self.schedules
            ],
            "pauses": [{"from": _iso(p.start), "until": _iso(p.end), "reason": p.reason} for p in self.pauses],
            "summary": self.summary,
            "slots": [slot.to_dict(tz) for slot in self.slots],
            "slots_not_shown": self.slots_not_shown,
            "other_runs": [{**run.to_dict(), "note": note} for run, note in self.other_runs],
            "notes": self.notes,
        }


# --- parsing the window ------------------------------------------------------------------


def parse_since(value: str, *, now: datetime) -> datetime:
    """The window's start: `now` minus a duration (`30m`, `24h`, `7d`, also `s`, `w`) or an ISO 8601 time.

    An ISO time without an offset is read as UTC. Raises SinceError.
    """
    text = (value or "").strip()
    match = _SINCE.match(text)
    if match:
        seconds = int(match[1]) * _UNIT_SECONDS[match[2].lower()]
        if seconds <= 0:
            raise SinceError(f'"{value}" is an empty window; use e.g. 30m, 24h or 7d.')
        if seconds > MAX_WINDOW.total_seconds():
            raise SinceError(f'"{value}" reaches back more than {MAX_WINDOW.days} days.')
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SinceError(
            f'"{value}" is neither a duration such as 30m, 24h or 7d nor an ISO 8601 time '
            "such as 2025-01-31T09:00:00+01:00."
        ) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    if moment >= now:
        raise SinceError(f'"{value}" is not in the past.')
    if now - moment > MAX_WINDOW:
        raise SinceError(f'"{value}" reaches back more than {MAX_WINDOW.days} days.')
    return moment


# --- reconstructing the past -----------------------------------------------------------------


def schedule_history(job: Job, events: Iterable[JobEvent]) -> list[ScheduleSpan]:
    """The schedules the job had, oldest first, each with the interval it was in force."""
    state = {name: getattr(job, name) for name in SCHEDULE_FIELDS}
    newest_first: list[ScheduleSpan] = []
    end: datetime | None = None
    created_by = "unknown"
    for event in sorted(events, key=lambda e: e.created_at, reverse=True):
        if event.kind == EventKind.CREATED:
            created_by = event.actor_name
        if event.kind != EventKind.UPDATED:
            continue
        changed = {
            name: change
            for name, change in (event.changes or {}).items()
            if name in SCHEDULE_FIELDS and isinstance(change, dict) and "old" in change
        }
        if not changed:
            continue
        newest_first.append(ScheduleSpan(event.created_at, end, Job.schedule_from(state), event.actor_name))
        for name, change in changed.items():
            state[name] = _decode(name, change["old"])
        end = event.created_at
    newest_first.append(ScheduleSpan(job.created_at, end, Job.schedule_from(state), created_by))
    return newest_first[::-1]


def pause_history(job: Job, events: Iterable[JobEvent]) -> list[PauseSpan]:
    """The intervals the job was paused, from pause/resume events (oldest first)."""
    toggles = sorted(
        (e for e in events if e.kind in (EventKind.PAUSED, EventKind.AUTO_PAUSED, EventKind.RESUMED)),
        key=lambda e: e.created_at,
    )
    # No toggle at all: the job has been as it is now since its creation; a
    # first toggle that is a resume means it was created paused.
    created_paused = toggles[0].kind == EventKind.RESUMED if toggles else not job.enabled
    spans: list[PauseSpan] = []
    start: datetime | None = job.created_at if created_paused else None
    reason = "created paused"
    for event in toggles:
        if event.kind == EventKind.RESUMED:
            if start is not None:
                spans.append(PauseSpan(start, event.created_at, reason))
                start = None
        elif start is None:
            start, reason = event.created_at, _pause_reason(event)
    if start is not None:
        spans.append(PauseSpan(start, None, reason))
    return spans


def _pause_reason(event: JobEvent) -> str:
    if event.kind == EventKind.AUTO_PAUSED:
        return "paused automatically after repeated failures"
    code = (event.changes or {}).get("reason") or PauseReason.USER
    if code == PauseReason.USER:
        return f"paused by {event.actor_name}"
    try:
        return str(PauseReason(code).label)
    except ValueError:
        return f"paused ({code})"


def _decode(name: str, value: Any) -> Any:
    if name in _DATETIME_FIELDS and isinstance(value, str) and value:
        moment = datetime.fromisoformat(value)
        return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    if name in _DATETIME_FIELDS and not value:
        return None
    return value


def expected_slots(
    spans: Sequence[ScheduleSpan], *, start: datetime, end: datetime, max_slots: int = MAX_SLOTS
) -> tuple[list[tuple[datetime, ScheduleSpan]], int]:
    """Every slot in (start, end] of the schedule in force at it, oldest first, and how many were dropped.

    At most `max_slots` are returned: the latest ones. Slots of the first
    schedule before the job's creation are included (they are judged
    "before the job existed"); an interval never fires at or before its anchor.
    """
    kept: deque[tuple[datetime, ScheduleSpan]] = deque(maxlen=max_slots)
    seen = 0
    for index, span in enumerate(spans):
        low = start if index == 0 else max(start, span.start)
        high = min(end, span.end) if span.end is not None else end
        schedule = span.schedule
        if schedule.kind == "interval" and schedule.anchor is not None:
            low = max(low, schedule.anchor.astimezone(UTC))
            low, skipped = _skip_interval(schedule, low, high, max_slots)
            seen += skipped
        if low >= high:
            continue
        cursor = low
        while True:
            chunk = schedules.slots_between(schedule, start=cursor, end=high, limit=5_000)
            for slot in chunk:
                kept.append((slot.astimezone(UTC), span))
            seen += len(chunk)
            if len(chunk) < 5_000:
                break
            cursor = chunk[-1]
    return list(kept), seen - len(kept)


def _skip_interval(schedule: schedules.Schedule, low: datetime, high: datetime, keep: int) -> tuple[datetime, int]:
    """Move `low` forward so that at most `keep` interval slots remain; returns (low, slots skipped)."""
    seconds = schedule.interval_seconds
    if not seconds or high <= low:
        return low, 0
    step = timedelta(seconds=seconds)
    anchor = schedule.anchor.astimezone(UTC)  # type: ignore[union-attr]
    last_k, first_k = (high - anchor) // step, (low - anchor) // step
    if last_k - first_k <= keep:
        return low, 0
    new_low = anchor + (last_k - keep) * step
    return new_low, (last_k - keep) - first_k


# --- judging ---------------------------------------------------------------------------------


def explain(
    job: Job,
    *,
    since: datetime,
    now: datetime | None = None,
    late_after: timedelta = DEFAULT_LATE_AFTER,
    max_slots: int = MAX_SLOTS,
    progress: Callable[[str], None] | None = None,
) -> Explanation:
    """Explain the slots of `job` between `since` and now."""
    now = now or timezone.now()
    step = progress or (lambda message: None)
    retention_days = settings.RUNS_RETENTION_DAYS
    retention_start = now - timedelta(days=retention_days)

    step("reading the audit trail")
    events = list(JobEvent.objects.filter(job_ref=job.pk).order_by("created_at"))
    spans = schedule_history(job, events)
    pauses = pause_history(job, events)
    step(f"rebuilt {len(spans)} schedule version(s) and {len(pauses)} pause(s)")

    slots, dropped = expected_slots(spans, start=since, end=now, max_slots=max_slots)
    step(f"computed {len(slots) + dropped} expected slot(s)")

    # With slots dropped, runs before the earliest one shown are not read either.
    runs_after = slots[0][0] - timedelta(milliseconds=1) if dropped and slots else since
    runs = list(
        JobRun.objects.filter(job=job, scheduled_for__gt=runs_after, scheduled_for__lte=now).order_by(
            "scheduled_for", "attempt", "created_at"
        )
    )
    step(f"matching {len(runs)} run(s) to the slots")
    by_slot: dict[datetime, list[JobRun]] = {}
    other_runs: list[tuple[RunInfo, str]] = []
    for run in runs:
        if run.trigger == RunTrigger.MANUAL:
            other_runs.append((RunInfo.of(run), "run by hand"))
        else:
            by_slot.setdefault(_key(run.scheduled_for), []).append(run)

    jitter = timedelta(seconds=policies.jitter_offset(job))
    judge = _Judge(job=job, now=now, pauses=pauses, retention_start=retention_start, late=late_after + jitter)
    reports = []
    matched: set[datetime] = set()
    for slot, span in slots:
        key = _key(slot)
        slot_runs = by_slot.get(key, [])
        if slot_runs:
            matched.add(key)
        reports.append(judge(slot, span, slot_runs, jitter))
    for key, slot_runs in by_slot.items():
        if key not in matched:
            for run in slot_runs:
                other_runs.append((RunInfo.of(run), "not a slot of the schedule then in force"))
    other_runs.sort(key=lambda item: (item[0].scheduled_for, item[0].attempt))
    step(f"judged {len(reports)} slot(s)")

    explanation = Explanation(
        job_id=str(job.pk),
        job_name=job.name,
        timezone=job.timezone or "UTC",
        now=now,
        window_start=since,
        window_end=now,
        retention_days=retention_days,
        retention_start=retention_start,
        created_at=job.created_at,
        schedules=[s for s in spans if (s.end is None or s.end > since)],
        pauses=[p for p in pauses if (p.end is None or p.end > since)],
        slots=reports,
        other_runs=other_runs,
        slots_not_shown=dropped,
    )
    explanation.notes = _notes(explanation, job)
    return explanation


@dataclass
class _Judge:
    job: Job
    now: datetime
    pauses: list[PauseSpan]
    retention_start: datetime
    late: timedelta

    def __call__(self, slot: datetime, span: ScheduleSpan, runs: list[JobRun], jitter: timedelta) -> SlotReport:
        described = span.description
        # A slot at the creation instant never fires either: the first slot is computed after it.
        if slot <= self.job.created_at:
            created = f"the job was created at {_iso(self.job.created_at)}"
            return SlotReport(slot, Outcome.BEFORE_CREATED, created, described)
        if runs:
            return self._from_runs(slot, runs, described, jitter)
        pause = next((p for p in self.pauses if p.covers(slot)), None)
        if pause is not None:
            until = f" until {_iso(pause.end)}" if pause.end else " (still paused)"
            return SlotReport(slot, Outcome.PAUSED, f"{pause.reason} at {_iso(pause.start)}{until}", described)
        if slot < self.retention_start:
            return SlotReport(
                slot,
                Outcome.BEYOND_RETENTION,
                f"older than the {self.retention_days_text} of run history kept (RUNS_RETENTION_DAYS): "
                "no record says what happened",
                described,
            )
        if self.now - slot <= self.late:
            return SlotReport(slot, Outcome.PENDING, "due moments ago; its run has not been recorded yet", described)
        return SlotReport(
            slot,
            Outcome.MISSED,
            "no run at all: the slot was never claimed (was beat running, or the job just edited?)",
            described,
        )

    @property
    def retention_days_text(self) -> str:
        days = settings.RUNS_RETENTION_DAYS
        return f"{days} day{'s' if days != 1 else ''}"

    def _from_runs(self, slot: datetime, runs: list[JobRun], described: str, jitter: timedelta) -> SlotReport:
        infos = tuple(RunInfo.of(run) for run in runs)
        executed = [r for r in infos if r.status != RunStatus.MISSED]
        skipped = [r for r in executed if r.status == RunStatus.SKIPPED]
        if not executed:
            reason = infos[0].reason or "no reason given"
            return SlotReport(slot, Outcome.MISSED, f"recorded by the scheduler: {reason}", described, runs=infos)
        if skipped and len(skipped) == len(executed):
            return SlotReport(slot, Outcome.SKIPPED, _skip_text(skipped[0].reason), described, runs=infos)
        attempts = sorted((r for r in executed if r.status != RunStatus.SKIPPED), key=lambda r: (r.attempt, r.id))
        first, final = attempts[0], attempts[-1]
        lateness = first.lateness_seconds
        when = self._when(first, lateness, jitter)
        caught_up = " (caught up after the scheduler was down)" if first.trigger == RunTrigger.CATCHUP else ""
        if final.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            what = "running" if final.status == RunStatus.RUNNING else "queued, waiting for a worker"
            retry = f" (attempt {final.attempt}, after {final.attempt - 1} failure(s))" if final.attempt > 1 else ""
            return SlotReport(slot, Outcome.IN_PROGRESS, f"{what}{retry}", described, lateness, infos)
        failures = [r for r in attempts if r.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)]
        if len(attempts) > 1:
            end = "succeeded" if final.status == RunStatus.SUCCEEDED else _failure_text(final)
            detail = (
                f"{_failure_text(first)}, {when}{caught_up}; retried {len(attempts) - 1} time(s), "
                f"the last attempt (#{final.attempt}) {end}"
            )
            return SlotReport(slot, Outcome.RETRIED, detail, described, lateness, infos)
        if failures:
            more = " (no retries configured)" if self.job.max_retries == 0 else ""
            if skipped:
                more = f"; its retry was skipped ({_skip_text(skipped[0].reason)})"
            return SlotReport(
                slot, Outcome.FAILED, f"{_failure_text(first)}, {when}{caught_up}{more}", described, lateness, infos
            )
        outcome = Outcome.ON_TIME
        if first.trigger == RunTrigger.CATCHUP or (lateness is not None and lateness > self.late.total_seconds()):
            outcome = Outcome.LATE
        took = f" in {_seconds(first.duration_ms / 1000)}" if first.duration_ms is not None else ""
        return SlotReport(slot, outcome, f"succeeded{took}, {when}{caught_up}", described, lateness, infos)

    def _when(self, run: RunInfo, lateness: float | None, jitter: timedelta) -> str:
        if lateness is None:
            return "never started"
        text = f"started {_seconds(lateness)} after the slot"
        if jitter:
            text += f" (its jitter delays starts by {_seconds(jitter.total_seconds())})"
        return text


def _skip_text(reason: str) -> str:
    if reason == "overlap":
        return "for overlap: the previous run was still queued or running (overlap policy: skip)"
    if reason == "paused":
        return "the job was paused before the run could start"
    return reason or "no reason recorded"


def _failure_text(run: RunInfo) -> str:
    word = "timed out" if run.status == RunStatus.TIMED_OUT else "failed"
    why = run.reason or run.error
    return f"{word} ({why})" if why else word


def _notes(explanation: Explanation, job: Job) -> list[str]:
    notes: list[str] = []
    start, now = explanation.window_start, explanation.now
    if start < explanation.retention_start:
        notes.append(
            f"The window reaches back {_seconds((now - start).total_seconds())}, longer than the "
            f"{explanation.retention_days} day(s) of run history kept (RUNS_RETENTION_DAYS): slots before "
            f"{_iso(explanation.retention_start)} have no run records and show as beyond the retained history "
            "unless the audit trail (kept longer) shows the job paused."
        )
    if start < explanation.created_at:
        notes.append(
            f"The job was created at {_iso(explanation.created_at)}; slots before that show as before the job existed."
        )
    if len(explanation.schedules) > 1:
        notes.append(
            f"The schedule changed {len(explanation.schedules) - 1} time(s) in the window; "
            "each slot is judged by the schedule in force at its time."
        )
    if explanation.slots_not_shown:
        notes.append(
            f"{explanation.slots_not_shown} earlier slot(s) are not shown (at most {len(explanation.slots)}); "
            "narrow the window to see them."
        )
    if not explanation.slots:
        notes.append("The schedule expected no run in this window.")
    if not job.enabled:
        current = explanation.pauses[-1].reason if explanation.pauses else "paused"
        notes.append(f"The job is paused now ({current}).")
    else:
        upcoming = schedules.next_fire_time(job.schedule, after=now)
        if upcoming is not None:
            notes.append(f"Next slot: {_iso(upcoming)}.")
    return notes


# --- small helpers -----------------------------------------------------------------------------


def _key(moment: datetime) -> datetime:
    """The instant at millisecond precision, in UTC (what every backend stores)."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _seconds(value: float) -> str:
    """A duration for people: 0.4 s, 12 s, 3 min 5 s, 2 h 3 min, 1 d 2 h."""
    value = max(0.0, value)
    if value < 10:
        return f"{value:.1f} s"
    total = round(value)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    return f"{seconds} s"


human_duration = _seconds
iso_utc = _iso
