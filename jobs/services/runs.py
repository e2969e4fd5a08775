"""Every write a run leads to: requesting one, executing one, and acting on how it ended.

`jobs.execution` records a run's life and returns what ended
(`lifecycle.Ended`); here the job's policies act on it: a failed run is
retried when its policy allows (a new run under its own claim, sent after
the backoff), and a job that failed too often in a row is paused. The Celery
tasks, beat and the management commands call these.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from jobs import cache as job_cache
from jobs.execution import claims, dispatch, lifecycle, policies
from jobs.models import EventKind, Job, JobRun, PauseReason, RunTrigger
from jobs.services.alerts import alert_after_reap, alert_if_late, alerts_after_run
from jobs.services.jobs import job_pause, record_event

logger = logging.getLogger(__name__)


def publish(messages: Sequence[dispatch.Message]) -> None:
    """Send runs to the workers; a run whose message could not be sent is failed, not left queued."""
    for ended in lifecycle.fail_unsent(dispatch.publish(messages)):
        after_run(ended)


def after_run(ended: lifecycle.Ended | None) -> None:
    """The policies acting on a run's end: alert on a change of state, pause a job that failed too often,
    retry a failed run."""
    if ended is None or ended.job is None:
        return
    alerts_after_run(ended)  # failed (the slot's last attempt) or recovered; never raises
    if not ended.failed:
        return
    run, job = ended.run, ended.job
    if policies.should_auto_pause(job):
        logger.warning(
            "job %s paused after %d consecutive failed runs",
            job.pk,
            job.consecutive_failures,
            extra={"job_id": str(job.pk), "consecutive_failures": job.consecutive_failures},
        )
        job = job_pause(job=job, actor=None, reason=PauseReason.AUTO, kind=EventKind.AUTO_PAUSED)
    if not ended.retry:
        return
    retry = policies.retry_of(run, job)
    if retry is None or not claims.claim_one(retry):
        return
    delay = policies.retry_delay(job, run.attempt)
    logger.info(
        "run %s of job %s will be retried in %.1f s (attempt %d of %d)",
        run.pk,
        job.pk,
        delay,
        retry.attempt,
        job.max_retries + 1,
        extra={"job_id": str(job.pk), "run_id": str(retry.pk), "trigger": RunTrigger.RETRY, "attempt": retry.attempt},
    )
    publish([dispatch.run_message(retry, countdown=delay)])


# --- requested by a user -----------------------------------------------------------------------------


def job_request_run(*, job: Job, actor: Any, send: bool = True) -> JobRun:
    """Run the job now, outside its schedule (trigger `manual`).

    With send=False the run is only recorded (queued), for a caller that
    executes it itself (`run_execute_now`, behind `manage.py run_job`).
    """
    if job.paused_reason == PauseReason.OWNER_DEACTIVATED and not _is_staff_or_operator(actor):
        # The same rule as resume: a deactivated owner's jobs run again only by staff's decision.
        raise PermissionDenied("This job was paused because its owner was deactivated; only staff can run it.")
    run = claims.new_run(job, timezone.now(), trigger=RunTrigger.MANUAL)
    claims.claim_one(run)  # a manual run's claim is its own id: never taken
    record_event(job, actor, EventKind.RUN_REQUESTED, {"run_id": str(run.id)})
    job_cache.invalidate([job.owner_id])
    if send:
        publish([dispatch.run_message(run)])
    return run


def _is_staff_or_operator(actor: Any) -> bool:
    """Staff, or no user at all: an operator at `manage.py run_job`."""
    return actor is None or bool(getattr(actor, "is_staff", False))


def run_execute_now(*, job: Job, actor: Any = None) -> JobRun:
    """A manual run executed in this process (`manage.py run_job`), recorded like any other.

    The job's timeout bounds it; a failure is reported, not retried.
    """
    run = job_request_run(job=job, actor=actor, send=False)
    run = JobRun.objects.select_related("job").get(pk=run.pk)
    after_run(lifecycle.execute(run, worker=f"{socket.gethostname()} (foreground)", foreground=True))
    run.refresh_from_db()
    return run


# --- executed by the workers -----------------------------------------------------------------------


def run_execute_slot(*, job_id: str, scheduled_for: str, worker: str) -> lifecycle.Ended | None:
    """Execute the claimed scheduled run of `job_id` for the slot `scheduled_for` (ISO 8601).

    Returns how it ended; None when there was nothing for this worker to run.
    """
    run = claims.slot_run(job_id, datetime.fromisoformat(scheduled_for))
    if run is None:
        # Withdrawn by an edit or pause before its slot (`claims.withdraw_ahead`), or the job was deleted.
        logger.info("no claimed run for job %s at %s (withdrawn or job deleted): nothing to run", job_id, scheduled_for)
        return None
    return _execute(run, worker=worker)


def run_execute(*, run_id: Any, worker: str) -> lifecycle.Ended | None:
    """Execute a queued manual, retry or catch-up run; returns how it ended (None: not this worker's)."""
    run = JobRun.objects.select_related("job").filter(pk=run_id).first()
    if run is None:
        logger.warning("run %s not found (job deleted?)", run_id)
        return None
    return _execute(run, worker=worker)


def _execute(run: JobRun, *, worker: str) -> lifecycle.Ended | None:
    ended = lifecycle.execute(run, worker=worker, started=alert_if_late)
    after_run(ended)
    return ended


def run_hard_timeout(*, run: JobRun) -> None:
    """The worker killed the run's process at its hard time limit."""
    after_run(lifecycle.hard_timeout(run))


def runs_reap(*, now: datetime | None = None) -> int:
    """Fail runs whose worker is gone (the reaper task); the retry policy then applies."""
    reaped = lifecycle.reap(now=now)
    for ended in reaped:
        alert_after_reap(ended)  # a stuck run (worker lost); never raises
        after_run(ended)
    return len(reaped)


def runs_prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete runs older than the retention (RUNS_RETENTION_DAYS); events are kept longer."""
    return claims.prune(days=days, now=now)
