"""Helpers for the jobs API tests: jobs are made through the services, as the API makes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import factories

SECRET = "Bearer s3cr3t-t0ken-do-not-leak"


def http_action(**fields: Any) -> dict[str, Any]:
    """An http action whose headers carry SECRET, which no response may show."""
    headers = {"Authorization": SECRET, "X-Trace": "trace-value-1"}
    return factories.http_action(**{"headers": headers, "expected_status": [200, 202], **fields})


@pytest.fixture
def make_job(db: Any) -> Callable[..., Any]:
    """make_job(owner, **wire_fields) -> Job: `factories.job`, the service the API uses."""
    return factories.job


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
