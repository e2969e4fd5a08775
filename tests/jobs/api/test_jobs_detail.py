"""GET /api/v1/jobs/{id}/"""

from __future__ import annotations

import uuid
from datetime import datetime

from jobs import services
from tests.jobs.api.conftest import SECRET, assert_error, http_action


def url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/"


def test_owner_gets_their_job(api, make_job, user):
    job = make_job(user, name="report", description="weekly", schedule={"phrase": "daily at 02:30"})

    response = api.get(url(job))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(job.pk)
    assert (body["name"], body["description"], body["owner"]) == ("report", "weekly", "alice")
    assert body["schedule"]["cron"] == "30 2 * * *"
    assert datetime.fromisoformat(body["next_run_at"]) == job.next_run_at


def test_next_runs_carry_the_jobs_timezone_offset(api, make_job, user):
    job = make_job(user, schedule={"kind": "cron", "cron": "0 12 * * *", "timezone": "America/New_York"})
    runs = api.get(url(job)).json()["schedule"]["next_runs"]
    assert len(runs) == 5
    assert all(text.endswith(("-05:00", "-04:00")) and "T12:00:00" in text for text in runs)


def test_another_users_job_is_404(api, make_job, bob):
    job = make_job(bob)
    assert_error(api.get(url(job)), 404, "not_found")


def test_unknown_and_malformed_ids_are_404(api):
    assert_error(api.get(f"/api/v1/jobs/{uuid.uuid4()}/"), 404, "not_found")
    assert_error(api.get("/api/v1/jobs/not-a-uuid/"), 404, "not_found")


def test_staff_get_any_users_job(login, staff, make_job, bob):
    job = make_job(bob)
    response = login(staff).get(url(job))
    assert response.status_code == 200
    assert response.json()["owner"] == "bob"


def test_paused_job_has_no_next_runs(api, make_job, user):
    job = services.job_pause(job=make_job(user), actor=user)
    body = api.get(url(job)).json()
    assert body["enabled"] is False
    assert body["paused_reason"] == "user"
    assert body["next_run_at"] is None
    assert body["schedule"]["next_runs"] == []
    assert body["schedule"]["human"]  # still described


def test_header_values_are_masked(api, make_job, user):
    job = make_job(user, action=http_action())
    response = api.get(url(job))
    assert response.json()["action"]["headers"] == {"Authorization": "••••", "X-Trace": "••••"}
    assert SECRET not in response.content.decode()


def test_anonymous_is_401(anon, make_job, user):
    assert_error(anon.get(url(make_job(user))), 401, "not_authenticated")


def test_a_query_parameter_on_a_detail_is_a_400(api, user, make_job):
    job = make_job(user)

    error = assert_error(api.get(f"{url(job)}?miss=1"), 400, "validation_error", "miss")
    assert "allowed: none" in error["message"]
