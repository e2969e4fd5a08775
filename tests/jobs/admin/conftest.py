"""Helpers for the admin tests: a logged-in staff browser, jobs and runs made through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.execution.claims import claim_key
from jobs.models import Job, JobRun, RunStatus, RunTrigger

SECRET = "Bearer s3cr3t-admin-t0ken-do-not-leak"
_names = itertools.count()


def http_action(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "url": "http://reports.internal/run",
        "headers": {"Authorization": SECRET},
        "body": "",
        "expected_status": [200],
        **overrides,
    }


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def make_job(db: Any) -> Callable[..., Job]:
    """make_job(owner, **wire_fields) -> Job, created by the service the API uses."""

    def make(owner: Any, **overrides: Any) -> Job:
        data = {
            "name": f"job-{next(_names)}",
            "schedule": {"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC"},
            "action": {"type": "task", "task": "echo", "kwargs": {}},
            **overrides,
        }
        return services.job_create(owner=owner, actor=owner, data=data)

    return make


@pytest.fixture
def make_run(db: Any) -> Callable[..., JobRun]:
    """make_run(job, status=..., ...) -> a finished (or queued) JobRun, also added to the job's history strip.

    Runs are written by the execution code, not the admin; tests stand in for it here.
    """

    def make(
        job: Job,
        *,
        status: str = RunStatus.SUCCEEDED,
        scheduled_for: datetime | None = None,
        trigger: str = RunTrigger.SCHEDULE,
        late_by: float = 0.5,
        duration_ms: int = 120,
        result: str = "",
        error: str = "",
    ) -> JobRun:
        scheduled = scheduled_for or timezone.now() - timedelta(minutes=5)
        started = scheduled + timedelta(seconds=late_by) if status not in (RunStatus.QUEUED, RunStatus.MISSED) else None
        run = JobRun.objects.create(
            job=job,
            scheduled_for=scheduled,
            trigger=trigger,
            status=status,
            claim_key=claim_key(job.pk, scheduled, trigger) + f"|{next(_names)}",
            started_at=started,
            finished_at=started + timedelta(milliseconds=duration_ms) if started else None,
            duration_ms=duration_ms if started else None,
            result=result,
            error=error,
        )
        if status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            job.refresh_from_db()
            outcomes = [{"id": str(run.pk), "status": status, "at": scheduled.isoformat()}, *job.recent_outcomes]
            Job.objects.filter(pk=job.pk).update(
                recent_outcomes=outcomes[: Job.RECENT_OUTCOMES], last_status=status, last_run_at=scheduled
            )
            job.refresh_from_db()
        return run

    return make


def changelist_action(client: Client, action: str, jobs: list[Job]) -> Any:
    return client.post(
        "/admin/jobs/job/",
        {"action": action, "_selected_action": [str(job.pk) for job in jobs], "index": 0},
        follow=True,
    )
