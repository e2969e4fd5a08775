"""A run's life: start, act, end, and what its end means for the job's summary.

Every end goes through `finish`, which records it on the run (only if the
run is still in the state expected: `claims.end`) and folds it into the job's
summary (`last_run_at`, `last_status`, `recent_outcomes`,
`consecutive_failures`) with an optimistic check on `Job.updated_at`, which
every write advances. It returns what ended (`Ended`); the policies that act
on an end (retry, auto-pause) are applied by the caller, through
`jobs.services.runs.after_run`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from jobs import cache as job_cache
from jobs.execution import claims, dispatch, executors, policies, store
from jobs.models import FAILED_STATUSES, Job, JobRun, RunStatus

logger = logging.getLogger(__name__)

EXECUTED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT)
_CAS_ATTEMPTS = 20


@dataclass
class Ended:
    """A run that just ended, and its job's summary after it (None: the job is gone).

    `retry`: whether the retry policy applies to this end (not to a run that
    never started because it could not be queued, nor to a foreground run).
    """

    run: JobRun
    job: Job | None
    retry: bool = True
    #: The job's `consecutive_failures` just before this end was folded in (alerts compare it with after).
    failures_before: int = 0

    @property
    def failed(self) -> bool:
        return self.run.status in FAILED_STATUSES


# --- ends -----------------------------------------------------------------------------------------


def finish(
    run: JobRun,
    *,
    status: str,
    result: str = "",
    error: str = "",
    reason: str = "",
    expected: str = RunStatus.RUNNING,
    retry: bool = True,
    now: datetime | None = None,
) -> Ended | None:
    """End a run that is still `expected` (running, or queued for runs that never started).

    Returns None if someone else ended it first.
    """
    now = now or timezone.now()
    duration_ms = None
    if run.started_at is not None:
        duration_ms = max(0, round((now - run.started_at).total_seconds() * 1000))
    if not claims.end(
        run,
        expected=expected,
        now=now,
        status=status,
        duration_ms=duration_ms,
        result=executors.excerpt(result or ""),
        error=executors.excerpt(error or ""),
        reason=(reason or "")[:200],
    ):
        return None
    log_end(run)
    job, before = _fold_outcomes(run.job_id, [run], now=now, final=not retry)
    return Ended(run, job, retry=retry, failures_before=before)


def fail_unsent(unsent: Sequence[dispatch.Unsent]) -> list[Ended]:
    """Fail runs whose message did not (certainly) reach the broker, so none stays `queued` for nothing."""
    ended = []
    for entry in unsent:
        what = "may not have been" if entry.uncertain else "could not be"
        done = finish(
            entry.run,
            status=RunStatus.FAILED,
            error=f"The run {what} sent to the workers ({type(entry.error).__name__}: {entry.error}).",
            reason="not queued",
            expected=RunStatus.QUEUED,
            retry=False,
        )
        if done is not None:
            ended.append(done)
    return ended


def skip(run: JobRun, *, reason: str, now: datetime | None = None) -> Ended | None:
    """A queued run that must not run (its job is paused, or it would overlap) ends `skipped`."""
    return finish(run, status=RunStatus.SKIPPED, reason=reason, expected=RunStatus.QUEUED, retry=False, now=now)


# --- executing ------------------------------------------------------------------------------------


def execute(
    run: JobRun, *, worker: str, foreground: bool = False, started: Callable[[JobRun], Any] | None = None
) -> Ended | None:
    """Start, act, finish. Returns None when the run was not this worker's to execute.

    In a Celery worker the message's time limits bound the action. In the
    foreground (`manage.py run_job`) a timer in this process does, and a
    failure is reported, not retried. `started` is called once the run has
    started, before its action (the services' late-start alert).
    """
    job = run.job
    if policies.blocked_by_pause(job, run):
        return skip(run, reason="paused")
    if policies.overlaps(run, job):
        return skip(run, reason="overlap")
    now = timezone.now()
    if not claims.start(run, worker=worker, now=now):
        return None
    _log_start(run)
    try:
        with _time_limit(job.timeout_seconds) if foreground else contextlib.nullcontext():
            if started is not None:
                started(run)
            outcome = executors.execute(job, timeout=job.timeout_seconds)
    except SoftTimeLimitExceeded:
        outcome = timed_out_outcome(job)
    except Exception as exc:  # a bug in an executor must not leave the run `running`
        logger.exception("run %s of job %s: executor error", run.pk, job.pk)
        outcome = executors.Outcome(RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", reason="internal error")
    return finish(
        run,
        status=outcome.status,
        result=outcome.result,
        error=outcome.error,
        reason=outcome.reason,
        retry=not foreground and not outcome.permanent,
    )


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


def hard_timeout(run: JobRun) -> Ended | None:
    """The worker killed the run's process at the hard time limit: record `timed_out`."""
    outcome = timed_out_outcome(run.job)
    return finish(run, status=outcome.status, error=outcome.error, reason=outcome.reason)


# --- the reaper -----------------------------------------------------------------------------------


def reap(*, now: datetime | None = None) -> list[Ended]:
    """Fail runs whose worker is gone; returns them (the retry policy then applies).

    - `running` past its timeout (+ the 1 s hard stop) plus JOBS_REAPER_GRACE_SECONDS:
      the worker died mid-run (a live worker would have stopped it): reason `worker lost`.
    - `queued` more than JOBS_QUEUED_LOST_AFTER_SECONDS past when it should have
      started: its message was lost (e.g. held by a worker that was killed): reason `not started`.
    """
    now = now or timezone.now()
    grace = settings.JOBS_REAPER_GRACE_SECONDS + dispatch.HARD_LIMIT_MARGIN_SECONDS
    reaped: list[Ended] = []
    running = JobRun.objects.select_related("job").filter(
        status=RunStatus.RUNNING, started_at__lt=now - timedelta(seconds=grace)
    )
    for run in running:
        if run.started_at + timedelta(seconds=run.job.timeout_seconds + grace) >= now:
            continue
        ended = finish(
            run,
            status=RunStatus.FAILED,
            error=(
                f"Worker lost: the run was still marked running {grace} s after its "
                f"{run.job.timeout_seconds} s timeout (worker {run.worker or 'unknown'} stopped or was killed)."
            ),
            reason="worker lost",
            now=now,
        )
        if ended is not None:
            reaped.append(ended)
    waited = timedelta(seconds=settings.JOBS_QUEUED_LOST_AFTER_SECONDS)
    queued = JobRun.objects.select_related("job").filter(status=RunStatus.QUEUED, created_at__lt=now - waited)
    for run in queued:
        if policies.expected_start(run, run.job) + waited >= now:
            continue
        ended = finish(
            run,
            status=RunStatus.FAILED,
            error=(
                f"Not started: no worker picked the run up within {waited.total_seconds():g} s "
                "of its start time (its message was lost, e.g. held by a worker that was killed)."
            ),
            reason="not started",
            expected=RunStatus.QUEUED,
            now=now,
        )
        if ended is not None:
            reaped.append(ended)
    if reaped:
        logger.warning("reaper failed %d lost run(s)", len(reaped), extra={"count": len(reaped)})
    return reaped


# --- the job's summary ------------------------------------------------------------------------------


def _outcome_entries(runs: Sequence[JobRun], now: datetime) -> tuple[list[JobRun], list[dict[str, str]]]:
    """The runs in slot order, and their `recent_outcomes` entries, newest first."""
    ordered = sorted(runs, key=lambda r: (r.scheduled_for, r.finished_at or now))
    entries = [
        {"id": str(r.pk), "status": r.status, "at": (r.finished_at or now).isoformat()} for r in reversed(ordered)
    ]
    return ordered, entries


def record_outcomes(job_id: Any, runs: Sequence[JobRun], *, now: datetime | None = None) -> Job | None:
    """Fold ended runs into the job's summary fields; returns the updated job (None if deleted)."""
    return _fold_outcomes(job_id, runs, now=now)[0]


def _fold_outcomes(
    job_id: Any, runs: Sequence[JobRun], *, now: datetime | None = None, final: bool = False
) -> tuple[Job | None, int]:
    """`record_outcomes`, also returning `consecutive_failures` as it was just before this write.

    `final`: no retry follows these runs whatever attempt they are (a
    permanent failure, a foreground run): a failed one is a failed slot.
    """
    now = now or timezone.now()
    ordered, entries = _outcome_entries(runs, now)
    for _ in range(_CAS_ATTEMPTS):
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            return None, 0
        outcomes = (entries + list(job.recent_outcomes or []))[: Job.RECENT_OUTCOMES]
        changes: dict[str, Any] = {"recent_outcomes": outcomes}
        failures = job.consecutive_failures
        last_at, last_status = job.last_run_at, job.last_status
        for run in ordered:
            if run.status not in EXECUTED_STATUSES:
                continue
            if run.status not in FAILED_STATUSES:
                failures = 0
            elif final or policies.last_attempt(run, job):
                # Failed slots count, not attempts: a slot with retries left has not failed yet.
                failures += 1
            at = run.started_at or run.finished_at or now
            if last_at is None or at >= last_at:
                last_at, last_status = at, run.status
        changes.update(consecutive_failures=failures, last_run_at=last_at, last_status=last_status)
        # Strictly increasing, so the next writer's check fails if it read
        # before this write (even within one millisecond on MongoDB).
        stamp = max(now, job.updated_at + timedelta(milliseconds=1))
        if Job.objects.filter(pk=job_id, updated_at=job.updated_at).update(updated_at=stamp, **changes) == 1:
            before = job.consecutive_failures
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = stamp
            job_cache.invalidate([job.owner_id])
            return job, before
        now = timezone.now()
    logger.warning("job %s: run outcomes not recorded after %d attempts (contention)", job_id, _CAS_ATTEMPTS)
    return None, 0


def record_not_run(groups: Mapping[Any, Sequence[JobRun]], *, now: datetime | None = None) -> None:
    """`record_outcomes` for many jobs at once, each with runs that were all skipped or missed.

    A beat that falls behind skips thousands of slots per pass (overlap
    policy `skip`), and one that was down records as many missed: one read
    and one batch of compare-and-set updates for all their jobs replace a
    read and an update per job. Such runs change only `recent_outcomes`
    (they were not executed). A job changed since it was read goes through
    `record_outcomes`, which retries.
    """
    if not groups:
        return
    now = now or timezone.now()
    rows = (
        Job.objects.filter(pk__in=list(groups))
        .order_by()
        .values_list("pk", "recent_outcomes", "updated_at", "owner_id")
    )
    updates = []
    owners: dict[Any, Any] = {}
    for pk, outcomes, updated_at, owner_id in rows:
        _, entries = _outcome_entries(groups[pk], now)
        stamp = max(now, updated_at + timedelta(milliseconds=1))  # strictly increasing, as in record_outcomes
        updates.append((pk, updated_at, (entries + list(outcomes or []))[: Job.RECENT_OUTCOMES], stamp))
        owners[pk] = owner_id
    done = store.current().compare_and_set(Job, updates, check="updated_at", assign=["recent_outcomes", "updated_at"])
    for pk in owners.keys() - done:
        record_outcomes(pk, groups[pk], now=now)  # changed since read: compare-and-set again, one job
    job_cache.invalidate({owners[pk] for pk in done})


# --- logs -----------------------------------------------------------------------------------------


def _log_start(run: JobRun) -> None:
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


def log_end(run: JobRun) -> None:
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


def log_missed(job_id: Any, count: int) -> None:
    logger.info(
        "job %s: %d slot(s) missed while no scheduler ran",
        job_id,
        count,
        extra={"job_id": str(job_id), "status": RunStatus.MISSED, "count": count},
    )
