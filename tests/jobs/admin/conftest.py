"""Helpers for the admin tests: a logged-in staff browser, jobs and runs made through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Job, JobRun
from tests import factories

SECRET = "Bearer s3cr3t-admin-t0ken-do-not-leak"


def http_action(**fields: Any) -> dict[str, Any]:
    """An http action whose Authorization header is SECRET, which no admin page may show."""
    return factories.http_action(**{"headers": {"Authorization": SECRET}, **fields})


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def make_job(db: Any) -> Callable[..., Job]:
    """make_job(owner, **wire_fields) -> Job: `factories.job`, the service the admin's forms use."""
    return factories.job


@pytest.fixture
def make_run(db: Any) -> Callable[..., JobRun]:
    """make_run(job, status=..., scheduled_for=..., late_by=0.5, duration_ms=120, ...) -> `factories.run`.

    Runs are written by the execution code, not the admin: the run is claimed,
    started `late_by` seconds after its slot and ended `duration_ms` later. A run
    given no slot gets its own (a slot is claimed once): five minutes ago, a
    second after the previous one of the test.
    """
    seconds = itertools.count()

    def make(
        job: Job, *, scheduled_for: datetime | None = None, late_by: float = 0.5, duration_ms: int = 120, **fields: Any
    ) -> JobRun:
        slot = scheduled_for or timezone.now() - timedelta(minutes=5) + timedelta(seconds=next(seconds))
        started = slot + timedelta(seconds=late_by)
        return factories.run(
            job, slot, started=started, finished=started + timedelta(milliseconds=duration_ms), **fields
        )

    return make


def changelist_action(client: Client, action: str, jobs: list[Job]) -> Any:
    return client.post(
        "/admin/jobs/job/",
        {"action": action, "_selected_action": [str(job.pk) for job in jobs], "index": 0},
        follow=True,
    )
