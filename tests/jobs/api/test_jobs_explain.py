"""GET /api/v1/jobs/{id}/explain/?since=24h: owner or staff only, one error shape for a bad `since`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.urls import include, path

from scheduler_site import urls as site_urls
from tests import factories

# The lead mounts jobs.api.explain under /api/v1/; mounted here the same way
# (first, so the test does not depend on that wiring).
urlpatterns = [
    path("api/v1/", include("jobs.api.explain")),
    path("", include("scheduler_site.urls")),
]
handler400, handler403, handler404, handler500 = (
    site_urls.handler400,
    site_urls.handler403,
    site_urls.handler404,
    site_urls.handler500,
)
pytestmark = pytest.mark.urls(__name__)

CREATED = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 12, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock() -> Any:
    # Pinned before any fixture signs a token, so tokens are issued at "now" too.
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def job(user: Any, make_job: Any) -> Any:
    with time_machine.travel(CREATED, tick=False):
        job = make_job(user, schedule={"kind": "cron", "cron": "0 * * * *"})
    slot = datetime(2025, 3, 12, 11, 0, tzinfo=UTC)
    factories.run_row(job, slot, started=slot + timedelta(seconds=90), finished=slot + timedelta(seconds=91))
    return job


def get(client: Any, job_id: Any, query: str = "") -> Any:
    return client.get(f"/api/v1/jobs/{job_id}/explain/{query}")


def test_owner_sees_the_explanation(api, job):
    response = get(api, job.pk, "?since=3h")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["job"] == {"id": str(job.pk), "name": job.name, "timezone": "UTC"}
    assert body["window"] == {"start": "2025-03-12T09:00:30Z", "end": "2025-03-12T12:00:30Z"}
    assert [(s["at"], s["outcome"]) for s in body["slots"]] == [
        ("2025-03-12T10:00:00Z", "missed"),
        ("2025-03-12T11:00:00Z", "late"),
        ("2025-03-12T12:00:00Z", "missed"),
    ]
    late = body["slots"][1]
    assert late["lateness_seconds"] == 90.0
    assert late["runs"][0]["status"] == "succeeded"
    assert body["summary"] == {"late": 1, "missed": 2}


def test_default_window_is_24h(api, job):
    body = get(api, job.pk).json()
    assert body["window"]["start"] == "2025-03-11T12:00:30Z"
    assert body["slots"][0]["outcome"] == "before_created"


def test_staff_sees_any_job(staff, login, job):
    assert get(login(staff), job.pk, "?since=1h").status_code == 200


def test_another_users_job_is_404(make_user, login, job):
    response = get(login(make_user("mallory")), job.pk)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_job_is_404(api, job):
    assert get(api, uuid.uuid4()).status_code == 404


def test_anonymous_is_401(anon, job):
    response = get(anon, job.pk)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "since",
    ["", "yesterday", "0h", "2030-01-01T00:00:00Z", "500d", "9" * 5000 + "d", "99999999999999999999s", "\u0663h"],
)
def test_bad_since_is_a_validation_error(api, job, since):
    response = get(api, job.pk, f"?since={since}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["since"]
    assert error["message"].startswith("since: ")


def test_iso_since_with_offset(api, job):
    response = get(api, job.pk, "?since=2025-03-12T12:30:00%2B01:00")
    assert response.status_code == 200
    assert response.json()["window"]["start"] == "2025-03-12T11:30:00Z"
