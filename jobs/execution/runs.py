"""The run lifecycle: claim, start, finish, retry, reap. Every write on JobRun.

A run's state changes are conditional single-row updates (`queued → running`
only if still queued, `running → finished` only if still running), so a
redelivered message, the reaper and a worker's late finish can race without
double effects, on every backend (transactions and row locks are no-ops on
MongoDB). Slots are claimed by inserting the run under its claim key, unique
per job; whoever loses the insert records nothing.

The job's summary fields (`last_run_at`, `last_status`, `recent_outcomes`,
`consecutive_failures`) are updated with an optimistic check on
`Job.updated_at`, which every write advances.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import signal
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import cache as job_cache
from jobs.execution import dispatch, executors
from jobs.execution.store import sql
from jobs.models import (
    ACTIVE_STATUSES,
    FAILED_STATUSES,
    EventKind,
    Job,
    JobRun,
    OverlapPolicy,
    PauseReason,
    RunStatus,
    RunTrigger,
)

logger = logging.getLogger("jobs.execution.runs")

# Retry delays are stretched by up to this fraction, at random, so that runs
# failing together do not retry in lockstep.
RETRY_JITTER_FRACTION = 0.1
EXECUTED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT)
_CAS_ATTEMPTS = 20


def _now() -> datetime:
    return timezone.now()


# --- timing helpers ---------------------------------------------------------------


def jitter_offset(job: Job) -> float:
    """The job's fixed start delay in [0, jitter_seconds], derived from its id.

    Deterministic, so a job's runs always start at the same offset after
    their slots, while jobs sharing a schedule are spread out.
    """
    if not job.jitter_seconds:
        return 0.0
    digest = hashlib.sha256(str(job.id).encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return round(fraction * job.jitter_seconds, 3)


def retry_delay(job: Job, failed_attempt: int, *, rng: random.Random | None = None) -> float:
    """Backoff before the retry that follows attempt `failed_attempt`: backoff * 2^(n-1), plus jitter."""
    base = job.retry_backoff_seconds * 2 ** (failed_attempt - 1)
    return base + (rng or random).uniform(0, base * RETRY_JITTER_FRACTION)


def blocked_by_pause(job: Job, run: JobRun) -> bool:
    """Paused jobs start nothing but manual runs (a finished one-off job still runs its slot)."""
    if job.enabled or run.trigger == RunTrigger.MANUAL:
        return False
    return job.paused_reason != PauseReason.FINISHED


def claimed_ahead(run: JobRun) -> bool:
    """Whether beat claimed this scheduled run before its slot (JOBS_BEAT_LOOKAHEAD_SECONDS)."""
    return run.trigger == RunTrigger.SCHEDULE and run.created_at is not None and run.created_at < run.scheduled_for


def overlaps(run: JobRun, job: Job) -> bool:
    """Overlap policy `skip` for a run claimed ahead, decided as it starts.

    A run claimed when due was checked then (`claim_slot`, `fire_many`). One
    claimed ahead was not: a run busy at the claim may be done by the slot.
    It is skipped if an earlier run of the job is still queued or running
    (later slots claimed ahead, waiting for their own time, do not count).
    """
    if job.overlap_policy != OverlapPolicy.SKIP or not claimed_ahead(run):
        return False
    earlier = JobRun.objects.filter(job_id=job.pk, status__in=ACTIVE_STATUSES, scheduled_for__lt=run.scheduled_for)
    return earlier.exclude(pk=run.pk).exists()


def expected_start(run: JobRun, job: Job) -> datetime:
    """When a queued run should have been picked up by a worker."""
    if run.trigger == RunTrigger.SCHEDULE:
        return run.scheduled_for + timedelta(seconds=jitter_offset(job))
    if run.trigger == RunTrigger.RETRY:
        longest = job.retry_backoff_seconds * 2 ** (run.attempt - 2) * (1 + RETRY_JITTER_FRACTION)
        return run.created_at + timedelta(seconds=longest)
    return run.created_at


# --- claims -------------------------------------------------------------------------


def _insert(run: JobRun) -> bool:
    """Insert `run`; False if its job's claim_key is taken (someone else owns that slot)."""
    try:
        # The savepoint keeps a surrounding transaction usable after the
        # IntegrityError (a no-op on MongoDB, where the unique index decides).
        with transaction.atomic():
            run.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _has_active_run(job: Job) -> bool:
    return JobRun.objects.filter(job_id=job.pk, status__in=ACTIVE_STATUSES).exists()


def claim_slot(
    job: Job, slot: datetime, *, trigger: str = RunTrigger.SCHEDULE, now: datetime | None = None
) -> JobRun | None:
    """Claim `slot` for a run (trigger `schedule` or `catchup`).

    Returns the new run: `queued` (to be published), or `skipped` with reason
    `overlap` when the job's overlap policy is skip and a run of it is still
    queued or running. Returns None when the slot was already claimed.
    """
    now = now or _now()
    run = JobRun(
        job=job,
        scheduled_for=slot,
        trigger=trigger,
        attempt=1,
        claim_key=JobRun.make_claim_key(job.pk, slot, trigger, 1),
    )
    if job.overlap_policy == OverlapPolicy.SKIP and _has_active_run(job):
        run.status = RunStatus.SKIPPED
        run.reason = "overlap"
        run.finished_at = now
    if not _insert(run):
        return None
    if run.status == RunStatus.SKIPPED:
        _log_end(run)
        record_outcomes(job.pk, [run], now=now)
    return run


def record_missed(
    job: Job, slots: Sequence[datetime], *, now: datetime | None = None, note: str = ""
) -> list[JobRun] | None:
    """Record `missed` runs for slots that passed while no scheduler ran.

    The first slot is the gate: if it was already claimed, another scheduler
    is handling these slots and None is returned. Later slots already claimed
    are left as they are.
    """
    now = now or _now()
    recorded: list[JobRun] = []
    for index, slot in enumerate(slots):
        run = JobRun(
            job=job,
            scheduled_for=slot,
            trigger=RunTrigger.SCHEDULE,
            status=RunStatus.MISSED,
            reason=missed_reason(note if index == len(slots) - 1 else ""),
            finished_at=now,
            claim_key=JobRun.make_claim_key(job.pk, slot, RunTrigger.SCHEDULE, 1),
        )
        if _insert(run):
            recorded.append(run)
        elif index == 0:
            return None
    if recorded:
        log_missed(job, len(recorded))
        record_outcomes(job.pk, recorded, now=now)
    return recorded


def missed_reason(note: str = "") -> str:
    """A `missed` run's reason; `note` says that later missed slots were not recorded."""
    return f"scheduler not running; {note}"[:200] if note else "scheduler not running"


def log_missed(job: Job, count: int) -> None:
    logger.info(
        "job %s: %d slot(s) missed while no scheduler ran",
        job.pk,
        count,
        extra={"job_id": str(job.pk), "status": RunStatus.MISSED, "count": count},
    )


def withdraw_ahead(job: Job, *, now: datetime | None = None) -> int:
    """Delete the job's runs claimed ahead of a slot still to come; returns how many.

    Beat claims slots up to JOBS_BEAT_LOOKAHEAD_SECONDS early. An edit of the
    schedule, a pause or a delete before such a slot comes first, exactly
    as if the slot had not been claimed yet: the claim is removed (and its
    key freed, so the new schedule can claim the same instant). The message
    already published finds no run, or the new claim, and starts it at most
    once.
    """
    now = now or _now()
    deleted, _ = JobRun.objects.filter(
        job_id=job.pk, trigger=RunTrigger.SCHEDULE, status=RunStatus.QUEUED, scheduled_for__gt=now
    ).delete()
    return deleted


# --- start and finish ------------------------------------------------------------------


def start_run(run: JobRun, *, worker: str, now: datetime | None = None) -> bool:
    """queued → running, only if still queued (a duplicate delivery loses here)."""
    now = now or _now()
    updated = JobRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, worker=worker[:200]
    )
    if updated != 1:
        return False
    run.status, run.started_at, run.worker = RunStatus.RUNNING, now, worker[:200]
    logger.info(
        "run %s of job %s started (%s, attempt %d, %.3f s after its slot)",
        run.pk,
        run.job_id,
        run.trigger,
        run.attempt,
        run.lateness_seconds or 0.0,
        extra={
            "job_id": str(run.job_id),
            "run_id": str(run.pk),
            "trigger": run.trigger,
            "attempt": run.attempt,
            "status": RunStatus.RUNNING,
            "scheduled_for": run.scheduled_for.isoformat(),
            "lateness_ms": round((run.lateness_seconds or 0.0) * 1000),
            "worker": run.worker,
        },
    )
    return True


def finish_run(
    run: JobRun,
    *,
    status: str,
    result: str = "",
    error: str = "",
    reason: str = "",
    expected: str = RunStatus.RUNNING,
    retry: bool = True,
    now: datetime | None = None,
) -> bool:
    """Record a run's end, only if it is still `expected` (running, or queued for runs that never started).

    Then update the job's summary, auto-pause it after too many consecutive
    failures, and schedule a retry for a failed run when its policy allows.
    Returns False if someone else ended the run first.
    """
    now = now or _now()
    duration_ms = None
    if run.started_at is not None:
        duration_ms = max(0, round((now - run.started_at).total_seconds() * 1000))
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "duration_ms": duration_ms,
        "result": executors.excerpt(result or ""),
        "error": executors.excerpt(error or ""),
        "reason": (reason or "")[:200],
    }
    if JobRun.objects.filter(pk=run.pk, status=expected).update(**fields) != 1:
        return False
    for name, value in fields.items():
        setattr(run, name, value)
    _log_end(run)
    job = record_outcomes(run.job_id, [run], now=now)
    if job is not None and status in FAILED_STATUSES:
        job = _maybe_auto_pause(job)
        if retry:
            schedule_retry(run, job, now=now)
    return True


def _log_end(run: JobRun) -> None:
    logger.info(
        "run %s of job %s ended %s (%s, attempt %d, %s ms)%s",
        run.pk,
        run.job_id,
        run.status,
        run.trigger,
        run.attempt,
        run.duration_ms if run.duration_ms is not None else "-",
        f": {run.reason}" if run.reason else "",
        extra={
            "job_id": str(run.job_id),
            "run_id": str(run.pk),
            "trigger": run.trigger,
            "attempt": run.attempt,
            "status": run.status,
            "reason": run.reason,
            "duration_ms": run.duration_ms,
            "scheduled_for": run.scheduled_for.isoformat(),
        },
    )


def _outcome_entries(runs: Sequence[JobRun], now: datetime) -> tuple[list[JobRun], list[dict[str, str]]]:
    """The runs in slot order, and their `recent_outcomes` entries, newest first."""
    ordered = sorted(runs, key=lambda r: (r.scheduled_for, r.finished_at or now))
    entries = [
        {"id": str(r.pk), "status": r.status, "at": (r.finished_at or now).isoformat()} for r in reversed(ordered)
    ]
    return ordered, entries


def record_skipped(groups: Mapping[Any, Sequence[JobRun]], *, now: datetime | None = None) -> None:
    """`record_outcomes` for many jobs at once, each with runs that were all skipped or missed.

    A beat that falls behind skips thousands of slots per pass (overlap
    policy `skip`), and one that was down records as many missed; one read
    and one compare-and-set statement for all their jobs replace a read and
    an update per job. Such runs change only `recent_outcomes` (they were
    not executed). A job changed since it was
    read goes through `record_outcomes`, which retries. PostgreSQL only;
    elsewhere every job goes through `record_outcomes`.
    """
    now = now or _now()
    if connection.vendor != "postgresql":
        for job_id, job_runs in groups.items():
            record_outcomes(job_id, job_runs, now=now)
        return
    rows = Job.objects.filter(pk__in=list(groups)).values_list("pk", "recent_outcomes", "updated_at", "owner_id")
    updates = []
    owners: dict[Any, Any] = {}
    for pk, outcomes, updated_at, owner_id in rows:
        _, entries = _outcome_entries(groups[pk], now)
        stamp = max(now, updated_at + timedelta(milliseconds=1))  # strictly increasing, as in record_outcomes
        updates.append((pk, updated_at, (entries + list(outcomes or []))[: Job.RECENT_OUTCOMES], stamp))
        owners[pk] = owner_id
    done = sql.update_where_unchanged(Job, updates, check="updated_at", assign=["recent_outcomes", "updated_at"])
    for pk in owners.keys() - done:
        record_outcomes(pk, groups[pk], now=now)  # changed since read: compare-and-set again, one job
    if done:
        job_cache.bump_many({owners[pk] for pk in done})


def record_outcomes(job_id: Any, runs: Sequence[JobRun], *, now: datetime | None = None) -> Job | None:
    """Fold ended runs into the job's summary fields; returns the updated job (None if deleted)."""
    now = now or _now()
    ordered, entries = _outcome_entries(runs, now)
    for _ in range(_CAS_ATTEMPTS):
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            return None
        outcomes = (entries + list(job.recent_outcomes or []))[: Job.RECENT_OUTCOMES]
        changes: dict[str, Any] = {"recent_outcomes": outcomes}
        failures = job.consecutive_failures
        last_at, last_status = job.last_run_at, job.last_status
        for run in ordered:
            if run.status not in EXECUTED_STATUSES:
                continue
            failures = failures + 1 if run.status in FAILED_STATUSES else 0
            at = run.started_at or run.finished_at or now
            if last_at is None or at >= last_at:
                last_at, last_status = at, run.status
        changes.update(consecutive_failures=failures, last_run_at=last_at, last_status=last_status)
        # Strictly increasing, so the next writer's check fails if it read
        # before this write (even within one millisecond on MongoDB).
        stamp = max(now, job.updated_at + timedelta(milliseconds=1))
        if Job.objects.filter(pk=job_id, updated_at=job.updated_at).update(updated_at=stamp, **changes) == 1:
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = stamp
            job_cache.bump(job.owner_id)
            return job
        now = _now()
    logger.warning("job %s: run outcomes not recorded after %d attempts (contention)", job_id, _CAS_ATTEMPTS)
    return None


def _maybe_auto_pause(job: Job) -> Job:
    limit = job.pause_after_failures
    if not job.enabled or not limit or job.consecutive_failures < limit:
        return job
    from jobs import services

    logger.warning(
        "job %s paused after %d consecutive failed runs",
        job.pk,
        job.consecutive_failures,
        extra={"job_id": str(job.pk), "consecutive_failures": job.consecutive_failures},
    )
    return services.job_pause(job=job, actor=None, reason=PauseReason.AUTO, kind=EventKind.AUTO_PAUSED)


def schedule_retry(run: JobRun, job: Job, *, now: datetime | None = None) -> JobRun | None:
    """A new run (trigger retry, same slot, next attempt) sent after the backoff, if the policy allows."""
    if run.attempt > job.max_retries or blocked_by_pause(job, run):
        return None
    retry = JobRun(
        job=job,
        scheduled_for=run.scheduled_for,
        trigger=RunTrigger.RETRY,
        attempt=run.attempt + 1,
        claim_key=JobRun.make_claim_key(job.pk, run.scheduled_for, RunTrigger.RETRY, run.attempt + 1),
    )
    if not _insert(retry):
        return None
    delay = retry_delay(job, run.attempt)
    logger.info(
        "run %s of job %s will be retried in %.1f s (attempt %d of %d)",
        run.pk,
        job.pk,
        delay,
        retry.attempt,
        job.max_retries + 1,
        extra={"job_id": str(job.pk), "run_id": str(retry.pk), "trigger": RunTrigger.RETRY, "attempt": retry.attempt},
    )
    dispatch.send_run(retry, countdown=delay)
    return retry


# --- executing (called by the Celery tasks) ------------------------------------------------


def execute_slot(job_id: str, scheduled_for: str, *, worker: str) -> JobRun | None:
    """Execute the claimed scheduled run of `job_id` for the slot `scheduled_for` (ISO 8601)."""
    slot = datetime.fromisoformat(scheduled_for)
    key = JobRun.make_claim_key(job_id, slot, RunTrigger.SCHEDULE, 1)
    run = JobRun.objects.select_related("job").filter(job_id=job_id, claim_key=key).first()
    if run is None:
        # Withdrawn by an edit or pause before its slot (`withdraw_ahead`), or the job was deleted.
        logger.info("no claimed run for job %s at %s (withdrawn or job deleted): nothing to run", job_id, scheduled_for)
        return None
    return execute(run, worker=worker)


def execute_run_id(run_id: str, *, worker: str) -> JobRun | None:
    run = JobRun.objects.select_related("job").filter(pk=run_id).first()
    if run is None:
        logger.warning("run %s not found (job deleted?)", run_id)
        return None
    return execute(run, worker=worker)


def execute(run: JobRun, *, worker: str, foreground: bool = False) -> JobRun | None:
    """Start, act, finish. Returns None when the run was not this worker's to execute.

    In a Celery worker the message's time limits bound the action. In the
    foreground (`execute_now`) a timer in this process does, and a failure
    is reported, not retried.
    """
    job = run.job
    if blocked_by_pause(job, run):
        finish_run(run, status=RunStatus.SKIPPED, reason="paused", expected=RunStatus.QUEUED, retry=False)
        return run
    if overlaps(run, job):
        finish_run(run, status=RunStatus.SKIPPED, reason="overlap", expected=RunStatus.QUEUED, retry=False)
        return run
    if not start_run(run, worker=worker):
        return None
    try:
        with _time_limit(job.timeout_seconds) if foreground else contextlib.nullcontext():
            outcome = executors.execute(job, timeout=job.timeout_seconds)
    except SoftTimeLimitExceeded:
        outcome = timed_out_outcome(job)
    except Exception as exc:  # a bug in an executor must not leave the run `running`
        logger.exception("run %s of job %s: executor error", run.pk, job.pk)
        outcome = executors.Outcome(RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", reason="internal error")
    finish_run(
        run,
        status=outcome.status,
        result=outcome.result,
        error=outcome.error,
        reason=outcome.reason,
        retry=not foreground,
    )
    return run


def execute_now(job: Job, *, actor: Any = None) -> JobRun:
    """A manual run executed in this process (`manage.py run_job`), recorded like any other."""
    from jobs import services

    run = services.job_request_run(job=job, actor=actor, send=False)
    run = JobRun.objects.select_related("job").get(pk=run.pk)
    execute(run, worker=f"{socket.gethostname()} (foreground)", foreground=True)
    run.refresh_from_db()
    return run


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Raise SoftTimeLimitExceeded in this (main) thread after `seconds`, like a worker's soft limit."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded(f"timed out after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed_out_outcome(job: Job) -> executors.Outcome:
    return executors.Outcome(
        RunStatus.TIMED_OUT,
        error=f"Timed out: the run took longer than its timeout of {job.timeout_seconds} s and was stopped.",
        reason="timeout",
    )


def mark_hard_timeout(run: JobRun) -> bool:
    """The worker killed the run's process at the hard time limit: record `timed_out`."""
    outcome = timed_out_outcome(run.job)
    return finish_run(run, status=outcome.status, error=outcome.error, reason=outcome.reason)


# --- the reaper -------------------------------------------------------------------------------


def reap_lost_runs(*, now: datetime | None = None) -> int:
    """Fail runs whose worker is gone; the job's retry policy then applies.

    - `running` past its timeout (+ the 1 s hard stop) plus JOBS_REAPER_GRACE_SECONDS:
      the worker died mid-run (a live worker would have stopped it): reason `worker lost`.
    - `queued` more than JOBS_QUEUED_LOST_AFTER_SECONDS past when it should have
      started: its message was lost (e.g. held by a worker that was killed): reason `not started`.
    """
    now = now or _now()
    grace = settings.JOBS_REAPER_GRACE_SECONDS + dispatch.HARD_LIMIT_MARGIN_SECONDS
    reaped = 0
    running = JobRun.objects.select_related("job").filter(
        status=RunStatus.RUNNING, started_at__lt=now - timedelta(seconds=grace)
    )
    for run in running:
        deadline = run.started_at + timedelta(seconds=run.job.timeout_seconds + grace)
        if deadline < now and finish_run(
            run,
            status=RunStatus.FAILED,
            error=(
                f"Worker lost: the run was still marked running {grace} s after its "
                f"{run.job.timeout_seconds} s timeout (worker {run.worker or 'unknown'} stopped or was killed)."
            ),
            reason="worker lost",
            now=now,
        ):
            reaped += 1
    waited = timedelta(seconds=settings.JOBS_QUEUED_LOST_AFTER_SECONDS)
    queued = JobRun.objects.select_related("job").filter(status=RunStatus.QUEUED, created_at__lt=now - waited)
    for run in queued:
        if expected_start(run, run.job) + waited < now and finish_run(
            run,
            status=RunStatus.FAILED,
            error=(
                f"Not started: no worker picked the run up within {waited.total_seconds():g} s "
                "of its start time (its message was lost, e.g. held by a worker that was killed)."
            ),
            reason="not started",
            expected=RunStatus.QUEUED,
            now=now,
        ):
            reaped += 1
    if reaped:
        logger.warning("reaper failed %d lost run(s)", reaped, extra={"count": reaped})
    return reaped
