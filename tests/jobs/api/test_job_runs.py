"""GET /api/v1/jobs/{id}/runs/"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from jobs.models import JobRun
from tests import factories
from tests.jobs.api.conftest import SECRET, assert_error, http_action


def runs_url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/runs/"


def add_run(job, *, minutes_ago: int, **fields) -> JobRun:
    return factories.run_row(job, timezone.now() - timedelta(minutes=minutes_ago), **fields)


def test_runs_are_listed_newest_first(api, make_job, user):
    job = make_job(user)
    old = add_run(job, minutes_ago=30, status="failed", error="boom")
    new = add_run(job, minutes_ago=5)

    response = api.get(runs_url(job))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert [run["id"] for run in body["results"]] == [str(new.pk), str(old.pk)]
    assert body["results"][1]["status"] == "failed" and body["results"][1]["error"] == "boom"
    assert set(body["results"][0]) >= {"id", "scheduled_for", "trigger", "attempt", "status", "duration_ms"}


def test_runs_are_paginated(api, make_job, user):
    job = make_job(user)
    for minutes in range(5):
        add_run(job, minutes_ago=minutes + 1)

    page = api.get(runs_url(job), {"page_size": 2}).json()

    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert_error(api.get(runs_url(job), {"page_size": 500}), 400, field="page_size")
    assert_error(api.get(runs_url(job), {"page_size": ""}), 400, field="page_size")
    assert_error(api.get(runs_url(job), {"page": ""}), 400, field="page")


def test_manual_run_shows_up(api, make_job, user):
    job = make_job(user)
    run_id = api.post(f"/api/v1/jobs/{job.pk}/run/").json()["run_id"]
    results = api.get(runs_url(job)).json()["results"]
    assert [(run["id"], run["trigger"], run["status"]) for run in results] == [(run_id, "manual", "queued")]


def test_a_secret_echoed_into_a_runs_output_is_masked(api, make_job, user):
    job = make_job(user, action=http_action())
    add_run(job, minutes_ago=1, result=f'{{"echo": "{SECRET}"}}', error=f"401 for {SECRET}")
    response = api.get(runs_url(job))
    assert SECRET not in response.content.decode()
    assert "••••" in response.json()["results"][0]["result"]


def test_another_users_job_is_404(api, make_job, bob):
    job = make_job(bob)
    add_run(job, minutes_ago=1)
    assert_error(api.get(runs_url(job)), 404, "not_found")


def test_staff_see_any_users_runs(login, staff, make_job, bob):
    job = make_job(bob)
    add_run(job, minutes_ago=1)
    assert login(staff).get(runs_url(job)).json()["count"] == 1


def test_anonymous_is_401(anon, make_job, user):
    assert_error(anon.get(runs_url(make_job(user))), 401, "not_authenticated")
