"""Helpers for the data-layer audit (docs/mongodb-audit.md): jobs made through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from jobs import services
from jobs.models import Job

_names = itertools.count()
INTERVAL = {"kind": "interval", "every": 10, "unit": "seconds"}


@pytest.fixture(autouse=True)
def _published(sent: Any) -> Any:
    """Runs handed to the workers go to the lane's broker and are recorded (the broker is not what is audited)."""
    return sent


@pytest.fixture
def make_job(user: Any) -> Callable[..., Job]:
    def make(*, name: str | None = None, owner: Any = None, **fields: Any) -> Job:
        data = {
            "name": name or f"audit-{next(_names)}",
            "schedule": fields.pop("schedule", INTERVAL),
            "action": {"type": "task", "task": "echo", "kwargs": {}},
            **fields,
        }
        return services.job_create(owner=owner or user, actor=owner or user, data=data)

    return make


def vendor() -> str:
    return connection.vendor
