"""Helpers for the jobs API tests: jobs are made through the services, as the API makes them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from jobs import services

SECRET = "Bearer s3cr3t-t0ken-do-not-leak"
_names = itertools.count()


def task_action(**kwargs: Any) -> dict[str, Any]:
    return {"type": "task", "task": "echo", "args": [], "kwargs": kwargs}


def http_action(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "url": "http://reports.internal/run",
        "headers": {"Authorization": SECRET, "X-Trace": "trace-value-1"},
        "body": "",
        "expected_status": [200, 202],
        **overrides,
    }


def job_data(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"job-{next(_names)}",
        "schedule": {"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC"},
        "action": task_action(),
        **overrides,
    }


@pytest.fixture
def make_job(db: Any) -> Callable[..., Any]:
    """make_job(owner, **wire_fields) -> Job, created by the service."""

    def make(owner: Any, **overrides: Any) -> Any:
        return services.job_create(owner=owner, actor=owner, data=job_data(**overrides))

    return make


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


def assert_error(response: Any, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """The response is in the one error shape, with this status (and code / field path)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in error["fields"], error
    return error
