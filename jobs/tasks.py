"""Celery tasks: thin. They take ids, fetch, and call `jobs.services`.

Messages are acknowledged when a worker takes them (CELERY_TASK_ACKS_LATE is
off), so delivery is at most once per attempt; the run's own state
(`queued → running` only once) makes a duplicate delivery a no-op.
Retries are new runs created by the services, never Celery's own retry.
Task names are fixed in `jobs.execution.dispatch`, which publishes by name.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded

from jobs import services
from jobs.execution import claims, dispatch
from jobs.models import JobRun

logger = logging.getLogger(__name__)


class RunTask(Task):
    """Records `timed_out` when the worker kills a run at its hard time limit.

    Celery calls `on_failure` in the worker's parent process after killing
    the child, so the run is ended at once rather than left to the reaper.
    """

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if not isinstance(exc, TimeLimitExceeded):
            return
        run = _run_for(self.name, list(args or []), dict(kwargs or {}))
        if run is not None:
            services.run_hard_timeout(run=run)


def _run_for(task_name: str, args: list[Any], kwargs: dict[str, Any]) -> JobRun | None:
    if task_name == dispatch.RUN_SLOT_TASK:
        job_id = kwargs.get("job_id", args[0] if args else None)
        slot = kwargs.get("scheduled_for", args[1] if len(args) > 1 else None)
        if job_id is None or slot is None:
            return None
        return claims.slot_run(job_id, datetime.fromisoformat(slot))
    run_id = kwargs.get("run_id", args[0] if args else None)
    return JobRun.objects.select_related("job").filter(pk=run_id).first() if run_id else None


@shared_task(name=dispatch.RUN_SLOT_TASK, base=RunTask, bind=True, ignore_result=True)
def run_job(self: Task, job_id: str, scheduled_for: str | None = None) -> None:
    """Run the job's slot `scheduled_for` (claimed by the scheduler before publishing)."""
    if scheduled_for is None:
        # Fired from a job's django-celery-beat mirror row by a scheduler
        # other than jobs.beat.scheduler.JobScheduler: slots have no identity
        # there, so nothing runs (see docs/design.md).
        logger.warning("run_job(%s) without a slot ignored: is CELERY_BEAT_SCHEDULER the project's scheduler?", job_id)
        return
    services.run_execute_slot(job_id=job_id, scheduled_for=scheduled_for, worker=self.request.hostname or "")


@shared_task(name=dispatch.RUN_TASK, base=RunTask, bind=True, ignore_result=True)
def execute_run(self: Task, run_id: str) -> None:
    """Run a manual, retry or catch-up run that already exists as `queued`."""
    services.run_execute(run_id=run_id, worker=self.request.hostname or "")


@shared_task(name="jobs.reap_lost_runs", ignore_result=True)
def reap_lost_runs() -> int:
    return services.runs_reap()


@shared_task(name="jobs.prune_runs", ignore_result=True)
def prune_runs() -> int:
    return services.runs_prune()


@shared_task(name=dispatch.DELIVER_ALERT_TASK, ignore_result=True)
def deliver_alert(delivery_id: str) -> None:
    """Try one alert delivery once; the service sends the next try after its backoff if it fails."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="jobs.resend_alerts", ignore_result=True)
def resend_alerts() -> int:
    """Send again the alert deliveries whose message was lost (the sweep: services.deliveries_resend_lost)."""
    return services.deliveries_resend_lost()


@shared_task(name=dispatch.ALERT_MISSED_TASK, ignore_result=True)
def alert_missed(missed: dict[str, list[Any]]) -> int:
    """`missed` alerts for the slots a beat pass recorded as missed ({job id: [count, first, last]})."""
    return services.alerts_for_missed(missed=missed)
