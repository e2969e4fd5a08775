"""Every API endpoint that reads or writes the database, under MongoDB settings with pymongo recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from jobs import services
from jobs.models import PauseReason, RunStatus
from tests.mongodb import data


@pytest.fixture
def job(user: Any) -> Any:
    return data.make_job(user, name="nightly report", action=data.http_action())


@pytest.fixture
def staff_api(staff: Any, login: Any) -> APIClient:
    return login(staff)


# --- accounts --------------------------------------------------------------------------------


def test_token_obtain(mql: Any, user: Any) -> None:
    with mql.path("api.token.obtain"):
        response = APIClient().post(
            "/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json"
        )
    assert response.status_code == 200, response.content


def test_token_refresh(mql: Any, api: APIClient) -> None:
    with mql.path("api.token.refresh"):
        response = APIClient().post("/api/v1/token/refresh/", {"refresh": api.tokens["refresh"]}, format="json")
    assert response.status_code == 200, response.content


def test_token_logout(mql: Any, api: APIClient) -> None:
    with mql.path("api.token.logout"):
        response = api.post("/api/v1/token/logout/", {"refresh": api.tokens["refresh"]}, format="json")
    assert response.status_code == 204, response.content


def test_me(mql: Any, api: APIClient) -> None:
    with mql.path("api.me"):
        response = api.get("/api/v1/me/")
    assert response.status_code == 200, response.content


# --- jobs: reads -----------------------------------------------------------------------------


def test_jobs_list(mql: Any, api: APIClient, job: Any) -> None:
    with mql.path("api.jobs.list"):
        response = api.get("/api/v1/jobs/")
    assert response.status_code == 200, response.content
    assert [row["name"] for row in response.json()["results"]] == ["nightly report"]


def test_jobs_list_filtered_searched_and_ordered_with_paused_jobs_last(mql: Any, api: APIClient, user: Any) -> None:
    first = data.make_job(user, name="Report A")
    paused = data.make_job(user, name="report B")
    services.job_pause(job=paused, actor=user)
    data.make_job(user, name="other", schedule=data.CRON)
    query = "search=REPORT&schedule_kind=interval&page_size=10&ordering=-next_run_at,name"
    with mql.path("api.jobs.list_filtered"):
        response = api.get(f"/api/v1/jobs/?{query}")
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [str(first.pk), str(paused.pk)]
    with mql.path("api.jobs.list_by_status"):
        response = api.get("/api/v1/jobs/?enabled=true&last_status=failed&ordering=created_at")
    assert response.status_code == 200, response.content


def test_jobs_list_as_staff_sees_every_owner(mql: Any, staff_api: APIClient, job: Any) -> None:
    with mql.path("api.jobs.list_staff"):
        response = staff_api.get("/api/v1/jobs/?page=1")
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["owner"] == "alice"


def test_jobs_retrieve(mql: Any, api: APIClient, job: Any) -> None:
    with mql.path("api.jobs.retrieve"):
        response = api.get(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == "alice"


def test_jobs_retrieve_of_another_users_job_is_404(mql: Any, job: Any, make_user: Any, login: Any) -> None:
    other = login(make_user("mallory"))
    with mql.path("api.jobs.retrieve_not_owner"):
        response = other.get(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 404, response.content


def test_jobs_runs(mql: Any, api: APIClient, job: Any) -> None:
    data.make_run(job, status=RunStatus.FAILED)
    with mql.path("api.jobs.runs"):
        response = api.get(f"/api/v1/jobs/{job.pk}/runs/")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


def test_jobs_events(mql: Any, api: APIClient, job: Any) -> None:
    with mql.path("api.jobs.events"):
        response = api.get(f"/api/v1/jobs/{job.pk}/events/")
    assert response.status_code == 200, response.content
    assert [event["kind"] for event in response.json()["results"]] == ["created"]


def test_jobs_explain(mql: Any, api: APIClient, job: Any) -> None:
    data.make_run(job, status=RunStatus.SUCCEEDED)
    with mql.path("api.jobs.explain"):
        response = api.get(f"/api/v1/jobs/{job.pk}/explain/?since=2h")
    assert response.status_code == 200, response.content
    assert response.json()["job"]["name"] == "nightly report"


# --- jobs: writes ----------------------------------------------------------------------------------


def test_jobs_create(mql: Any, api: APIClient) -> None:
    body = {"name": "every five", "schedule": {"phrase": "every 5 minutes"}, "action": data.task_action()}
    with mql.path("api.jobs.create"):
        response = api.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.content


def test_jobs_create_cron_and_once(mql: Any, api: APIClient) -> None:
    cron = {"name": "weekly", "schedule": data.CRON, "action": data.http_action(), "max_retries": 2}
    with mql.path("api.jobs.create_cron"):
        response = api.post("/api/v1/jobs/", cron, format="json")
    assert response.status_code == 201, response.content
    once = {"name": "once", "schedule": data.once(), "action": data.task_action(), "enabled": False}
    with mql.path("api.jobs.create_once_paused"):
        response = api.post("/api/v1/jobs/", once, format="json")
    assert response.status_code == 201, response.content


def test_jobs_create_duplicate_name_is_409(mql: Any, api: APIClient, job: Any) -> None:
    body = {"name": "nightly report", "schedule": data.INTERVAL, "action": data.task_action()}
    with mql.path("api.jobs.create_duplicate"):
        response = api.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 409, response.content


def test_jobs_replace(mql: Any, api: APIClient, job: Any) -> None:
    body = {"name": "renamed", "schedule": data.CRON, "action": data.http_action(), "timeout_seconds": 30}
    with mql.path("api.jobs.replace"):
        response = api.put(f"/api/v1/jobs/{job.pk}/", body, format="json")
    assert response.status_code == 200, response.content


def test_jobs_change(mql: Any, api: APIClient, user: Any) -> None:
    # A minute after creation, so the new interval's anchor (the change's second) always differs.
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False) as clock:
        job = data.make_job(user, name="nightly report", action=data.http_action())
        clock.shift(timedelta(minutes=1))
        with mql.path("api.jobs.change"):
            response = api.patch(
                f"/api/v1/jobs/{job.pk}/", {"schedule": {"phrase": "every 10 minutes"}, "enabled": False}, format="json"
            )
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False


def test_jobs_delete(mql: Any, api: APIClient, job: Any) -> None:
    data.make_run(job)
    with mql.path("api.jobs.delete"):
        response = api.delete(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 204, response.content


def test_jobs_pause(mql: Any, api: APIClient, job: Any) -> None:
    with mql.path("api.jobs.pause"):
        response = api.post(f"/api/v1/jobs/{job.pk}/pause/")
    assert response.status_code == 200, response.content
    assert response.json()["paused_reason"] == PauseReason.USER


def test_jobs_resume(mql: Any, api: APIClient, job: Any, user: Any) -> None:
    services.job_pause(job=job, actor=user)
    with mql.path("api.jobs.resume"):
        response = api.post(f"/api/v1/jobs/{job.pk}/resume/")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is True


def test_jobs_run_now(mql: Any, api: APIClient, job: Any, published: list[Any]) -> None:
    with mql.path("api.jobs.run"):
        response = api.post(f"/api/v1/jobs/{job.pk}/run/")
    assert response.status_code == 202, response.content
    assert [name for name, *_ in published] == ["jobs.execute_run"]


def test_schedule_preview(mql: Any, api: APIClient) -> None:
    # Only the caller's authentication reads the database.
    with mql.path("api.schedules.preview"):
        response = api.post("/api/v1/schedules/preview/", {"schedule": data.CRON, "count": 3}, format="json")
    assert response.status_code == 200, response.content


# --- operations ------------------------------------------------------------------------------------


def test_readyz_pings_the_database_and_says_how_writes_are_kept_together(mql: Any) -> None:
    with mql.path("ops.readyz"):
        response = APIClient().get("/readyz")
    assert response.json()["checks"]["database"] == {
        "status": "ok",
        "vendor": "mongodb",
        # The guard answers `hello` as a standalone server: no transactions there.
        "writes": "ordered writes (standalone MongoDB server: no transactions)",
        "beat": None,  # no beat has taken the lease in this database
        "duration_ms": response.json()["checks"]["database"]["duration_ms"],
    }


def test_readyz_on_a_replica_set_says_writes_share_transactions(mql: Any, replica_set: Any) -> None:
    response = APIClient().get("/readyz")
    assert response.json()["checks"]["database"]["writes"] == "transactions"


def test_metrics(mql: Any, settings: Any, job: Any) -> None:
    data.make_run(job, status=RunStatus.SUCCEEDED, ago=timedelta(minutes=2))
    settings.METRICS_TOKEN = "guard-metrics-token"
    with mql.path("ops.metrics"):
        response = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer guard-metrics-token")
    assert response.status_code == 200, response.content
    body = response.content.decode()
    assert 'scheduler_metrics_source_up{source="database"} 1.0' in body
    assert 'scheduler_jobs{state="enabled"} 1.0' in body


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/ping/", "/api/schema/", "/api/docs/"])
def test_endpoints_that_never_touch_the_database(mql: Any, url: str) -> None:
    mql.log = []
    try:
        response = APIClient().get(url)
    finally:
        operations, mql.log = mql.log, None
    assert response.status_code == 200, response.content[:500]
    assert operations == []
