"""Data for the guarded paths, made through the app's own services (so it is stored as the app stores it).

`tests.factories` makes it; this module keeps what the guard's fixtures were
recorded with: its own names (restarting for every test), schedules, actions
and the way its runs end.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from jobs.models import Job, JobRun, RunStatus
from tests import factories

_names = itertools.count()

INTERVAL = {"kind": "interval", "every": 5, "unit": "minutes"}
CRON = {"kind": "cron", "cron": "0 9 * * 1", "timezone": "Europe/Paris"}

task_action = factories.task_action


def http_action() -> dict[str, Any]:
    return factories.http_action("http://127.0.0.1:9/hook", headers={"Authorization": "Bearer guard-secret"}, body="{}")


def once() -> dict[str, Any]:
    # A fixed instant: the mirror row's description spells it out, and fixtures must not change daily.
    return {"kind": "once", "at": "2099-01-05T09:30:00+00:00"}


def reset_names() -> None:
    """Job names restart for every test, so a path's fixture does not depend on which tests ran before."""
    global _names
    _names = itertools.count()


def make_job(owner: Any, *, name: str | None = None, schedule: dict[str, Any] | None = None, **fields: Any) -> Job:
    return factories.job(owner, name=name or f"guard-job-{next(_names)}", schedule=schedule or INTERVAL, **fields)


def make_run(job: Job, *, status: str = RunStatus.SUCCEEDED, ago: timedelta = timedelta(minutes=10)) -> JobRun:
    """A scheduled run of `job`, claimed like the scheduler claims it, then moved to `status`."""
    slot = (timezone.now() - ago).replace(microsecond=0)
    error = "" if status == RunStatus.SUCCEEDED else "boom"
    return factories.run(
        job, slot, status=status, started=slot + timedelta(seconds=1), worker="guard-worker", result="ok", error=error
    )
