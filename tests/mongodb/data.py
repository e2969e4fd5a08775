"""Data for the guarded paths, made through the app's own services (so it is stored as the app stores it)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from jobs import services
from jobs.execution import claims, lifecycle
from jobs.models import Job, JobRun, RunStatus, RunTrigger

_names = itertools.count()

INTERVAL = {"kind": "interval", "every": 5, "unit": "minutes"}
CRON = {"kind": "cron", "cron": "0 9 * * 1", "timezone": "Europe/Paris"}


def task_action(task: str = "echo", **kwargs: Any) -> dict[str, Any]:
    return {"type": "task", "task": task, "args": [], "kwargs": kwargs}


def http_action() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "url": "http://127.0.0.1:1/hook",
        "headers": {"Authorization": "Bearer guard-secret"},
        "body": "{}",
        "expected_status": [200],
    }


def once() -> dict[str, Any]:
    # A fixed instant: the mirror row's description spells it out, and fixtures must not change daily.
    return {"kind": "once", "at": "2099-01-05T09:30:00+00:00"}


def reset_names() -> None:
    """Job names restart for every test, so a path's fixture does not depend on which tests ran before."""
    global _names
    _names = itertools.count()


def make_job(owner: Any, *, name: str | None = None, schedule: dict[str, Any] | None = None, **fields: Any) -> Job:
    data = {
        "name": name or f"guard-job-{next(_names)}",
        "schedule": schedule or INTERVAL,
        "action": fields.pop("action", None) or task_action(),
        **fields,
    }
    return services.job_create(owner=owner, actor=owner, data=data)


def make_run(job: Job, *, status: str = RunStatus.SUCCEEDED, ago: timedelta = timedelta(minutes=10)) -> JobRun:
    """A scheduled run of `job`, claimed like the scheduler claims it, then moved to `status`."""
    slot = (timezone.now() - ago).replace(microsecond=0)
    run = claims.new_run(job, slot, trigger=RunTrigger.SCHEDULE)
    assert claims.claim_one(run)
    if status != RunStatus.QUEUED:
        claims.start(run, worker="guard-worker", now=slot + timedelta(seconds=1))
    if status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        lifecycle.finish(
            run, status=status, result="ok", error="" if status == RunStatus.SUCCEEDED else "boom", retry=False
        )
    run.refresh_from_db()
    return run
