"""Helpers for the execution tests: jobs made through the services, publishing captured."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from jobs.execution import dispatch
from jobs.models import Job, JobRun

_names = itertools.count()


@pytest.fixture
def make_job(user: Any) -> Callable[..., Job]:
    """A job created by the services (so next_run_at and the beat mirror are real)."""
    from jobs.services import job_create

    def make(
        *,
        schedule: dict[str, Any] | None = None,
        action: dict[str, Any] | None = None,
        owner: Any = None,
        **policies: Any,
    ) -> Job:
        data = {
            "name": policies.pop("name", f"job-{next(_names)}"),
            "schedule": schedule or {"kind": "interval", "every": 10, "unit": "seconds"},
            "action": action or {"type": "task", "task": "echo", "kwargs": {"hello": "world"}},
            **policies,
        }
        return job_create(owner=owner or user, actor=owner or user, data=data)

    return make


@dataclass
class Sent:
    """Messages the code under test published, instead of going to a broker."""

    slots: list[tuple[JobRun, float, Any]] = field(default_factory=list)
    runs: list[tuple[JobRun, float, Any]] = field(default_factory=list)

    def slot_times(self, job: Job) -> list[Any]:
        return [run.scheduled_for for run, _, _ in self.slots if run.job_id == job.pk]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    record = Sent()

    def send_slot(run: JobRun, *, countdown: float = 0) -> bool:
        record.slots.append((run, countdown, timezone.now()))
        return True

    def send_run(run: JobRun, *, countdown: float = 0) -> bool:
        record.runs.append((run, countdown, timezone.now()))
        return True

    monkeypatch.setattr(dispatch, "send_slot", send_slot)
    monkeypatch.setattr(dispatch, "send_run", send_run)
    return record
