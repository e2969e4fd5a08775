"""Helpers for the execution tests: jobs made through the services, due within seconds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from jobs.models import Job
from tests import factories


@pytest.fixture
def make_job(user: Any) -> Callable[..., Job]:
    """`factories.job` for `user` (owner= for another), every 10 seconds, an echo of {"hello": "world"}."""
    return functools.partial(
        factories.job, owner=user, schedule=factories.INTERVAL, action=factories.task_action(hello="world")
    )
