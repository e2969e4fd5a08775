"""Test data made the way the app makes it: one place for jobs and runs (issue 13).

- `job` creates through `jobs.services.job_create`, so next_run_at, the audit
  event and the beat mirror row are real.
- `run` claims a slot as beat does (`claims.new_run` + `claims.claim_one`) and
  brings the run to its status through the execution code (`claims.start`,
  `lifecycle.finish`, `lifecycle.record_not_run`), so the job's summary follows.
- `run_row` writes one historical row exactly as given, for tests that read a
  history back (explain, metrics, run lists) and need times and combinations
  that no single clock could live through.

Fixtures named `make_job` in the conftests only bind these to a test's user
and to the defaults of their folder.
"""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from typing import Any

from jobs import services
from jobs.execution import claims, lifecycle
from jobs.models import Job, JobRun, RunStatus, RunTrigger

#: Weekly, Mondays at 09:00 UTC: a job that does not come due while a test runs.
CRON: dict[str, Any] = {"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC"}
#: Every 10 seconds: a job that is due within a tick or two.
INTERVAL: dict[str, Any] = {"kind": "interval", "every": 10, "unit": "seconds"}

_names = itertools.count()


def task_action(task: str = "echo", **kwargs: Any) -> dict[str, Any]:
    """A registered task's action, in the wire format (`echo` returns its kwargs)."""
    return {"type": "task", "task": task, "args": [], "kwargs": kwargs}


def http_action(url: str = "http://reports.internal/run", **fields: Any) -> dict[str, Any]:
    """An http action in the wire format; `fields` (headers, expected_status, ...) replace the defaults."""
    return {"type": "http", "method": "POST", "url": url, "headers": {}, "body": "", "expected_status": [200], **fields}


def job_data(**fields: Any) -> dict[str, Any]:
    """A job in the wire format the API and the services take: a fresh name, CRON and `task_action()`.

    `fields` replace those and add policies, even when empty: validation tests send empty values.
    """
    data = {"name": f"job-{next(_names)}", "schedule": CRON, "action": task_action(), **fields}
    # A copy: a default bound by a fixture must not carry one test's edits into the next.
    return copy.deepcopy(data)


def job(
    owner: Any,
    *,
    name: str | None = None,
    schedule: dict[str, Any] | None = None,
    action: dict[str, Any] | None = None,
    **policies: Any,
) -> Job:
    """A job of `owner`, created by `owner` through the service the API and the admin use (None: the default)."""
    given = {"name": name, "schedule": schedule, "action": action}
    data = job_data(**{key: value for key, value in given.items() if value is not None}, **policies)
    return services.job_create(owner=owner, actor=owner, data=data)


def run(
    job: Job,
    slot: datetime,
    *,
    status: str = RunStatus.SUCCEEDED,
    trigger: str = RunTrigger.SCHEDULE,
    attempt: int = 1,
    started: datetime | None = None,
    finished: datetime | None = None,
    worker: str = "test-worker",
    result: str = "",
    error: str = "",
    reason: str = "",
) -> JobRun:
    """A run of `job` for `slot`, claimed as beat claims it, then brought to `status` by the execution code.

    - queued: claimed, not started;
    - running: started by `worker` at `started` (default: at the slot);
    - succeeded, failed, timed_out: started, then ended at `finished` (default: now) by
      `lifecycle.finish`, which folds it into the job's summary; no retry is sent;
    - missed, skipped: claimed in that final state at `finished` (default: now) and folded
      into the summary, as beat records a slot it did not run.

    The slot must be free (a slot is claimed once). Returns the run as stored.
    """
    not_run = status in (RunStatus.MISSED, RunStatus.SKIPPED)
    claimed = claims.new_run(
        job,
        slot,
        trigger=trigger,
        attempt=attempt,
        status=status if not_run else RunStatus.QUEUED,
        reason=reason,
        now=finished,
    )
    if not claims.claim_one(claimed):
        raise AssertionError(f"slot {slot} of job {job.pk} is already claimed")
    if not_run:
        lifecycle.record_not_run({job.pk: [claimed]}, now=finished)
    elif status != RunStatus.QUEUED:
        claims.start(claimed, worker=worker, now=started or slot)
        if status != RunStatus.RUNNING:
            lifecycle.finish(
                claimed, status=status, result=result, error=error, reason=reason, retry=False, now=finished
            )
    claimed.refresh_from_db()
    return claimed


def run_row(
    job: Job,
    slot: datetime,
    *,
    status: str = RunStatus.SUCCEEDED,
    trigger: str = RunTrigger.SCHEDULE,
    attempt: int = 1,
    started: datetime | None = None,
    finished: datetime | None = None,
    result: str = "",
    error: str = "",
    reason: str = "",
) -> JobRun:
    """One row of a run history, written exactly as given, under the claim key the app would give it.

    Nothing else is written: the job's summary is left as it is and nothing is
    published. The duration follows from `started` and `finished`, as
    `lifecycle.finish` records it. Use `run` unless the test reads a history
    back and needs these exact times (explain, metrics, run lists).
    """
    duration_ms = None
    if started is not None and finished is not None:
        duration_ms = max(0, round((finished - started).total_seconds() * 1000))
    row = JobRun(
        job=job,
        scheduled_for=slot,
        trigger=trigger,
        attempt=attempt,
        status=status,
        started_at=started,
        finished_at=finished,
        duration_ms=duration_ms,
        result=result,
        error=error,
        reason=reason,
    )
    row.claim_key = claims.claim_key(job.pk, slot, trigger, attempt, run_id=row.id)
    row.save(force_insert=True)
    return row
