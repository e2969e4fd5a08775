"""Helpers for the execution tests: jobs made through the services, publishing captured."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from jobs.models import Job

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
