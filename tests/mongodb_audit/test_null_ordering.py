"""Audit 2: nulls. Paused jobs have no `next_run_at`; queued runs have no `started_at`.

Where nulls sort differs by backend (PostgreSQL puts NULL last ascending and
first descending; SQLite and MongoDB put it first ascending), the app either
says where they go (`nulls_last`) or filters them out; comparisons never
match a null (SQL's three-valued logic; on MongoDB the backend adds
`$exists`/`$ne: null` to `$lt`/`$lte`, which would otherwise match null).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import services
from jobs.beat.scheduler import JobScheduler
from jobs.diagnostics import overview
from jobs.models import Job, JobRun, RunStatus
from scheduler_site.celery import app


@pytest.fixture
def jobs(make_job: Any, user: Any) -> list[Job]:
    soon = make_job(name="b-soon", schedule={"kind": "interval", "every": 30, "unit": "minutes"})
    later = make_job(name="c-later", schedule={"kind": "interval", "every": 1, "unit": "hours"})
    paused = services.job_pause(job=make_job(name="a-paused"), actor=user)
    assert paused.next_run_at is None
    return [soon, later, paused]


@pytest.mark.parametrize("ordering", ["next_run_at", "-next_run_at"])
def test_api_ordering_by_next_run_puts_paused_jobs_last_both_ways(jobs: list[Job], api: Any, ordering: str) -> None:
    response = api.get(f"/api/v1/jobs/?ordering={ordering}")
    assert response.status_code == 200, response.content
    names = [row["name"] for row in response.json()["results"]]
    expected = ["b-soon", "c-later"] if ordering == "next_run_at" else ["c-later", "b-soon"]
    assert names == [*expected, "a-paused"]


def test_a_null_next_run_is_never_due(jobs: list[Job]) -> None:
    # Even an inconsistent row (enabled, no next run) is not picked by `next_run_at <= now`.
    Job.objects.filter(pk=jobs[2].pk).update(enabled=True)
    due = Job.objects.filter(enabled=True, next_run_at__lte=timezone.now() + timedelta(days=365))
    assert jobs[2] not in due
    assert JobScheduler(app=app, lazy=True).tick_jobs() > 0  # and the tick does not trip over it


def test_the_overview_lists_upcoming_fires_of_scheduled_jobs_only(jobs: list[Job]) -> None:
    fires = overview.upcoming_fires(now=timezone.now())
    assert {fire["job"].name for fire in fires} == {"b-soon", "c-later"}
    assert fires == sorted(fires, key=lambda fire: fire["at_utc"])


def test_less_than_never_matches_a_run_that_has_not_started(make_job: Any, user: Any) -> None:
    # The reaper's `started_at < cutoff` must not pick queued runs (started_at null).
    job = make_job()
    services.job_request_run(job=job, actor=user, send=False)
    assert not JobRun.objects.filter(started_at__lt=timezone.now() + timedelta(days=1)).exists()
    assert JobRun.objects.filter(started_at__isnull=True, status=RunStatus.QUEUED).count() == 1
