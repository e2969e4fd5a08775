"""Helpers for the data-layer audit (docs/mongodb-audit.md): jobs made through the services."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from jobs.models import Job
from tests import factories


@pytest.fixture(autouse=True)
def _published(sent: Any) -> Any:
    """Runs handed to the workers go to the lane's broker and are recorded (the broker is not what is audited)."""
    return sent


@pytest.fixture
def make_job(user: Any) -> Callable[..., Job]:
    """`factories.job` for `user` (owner= for another), every 10 seconds."""
    return functools.partial(factories.job, owner=user, schedule=factories.INTERVAL)


def vendor() -> str:
    return connection.vendor
