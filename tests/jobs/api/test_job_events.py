"""GET /api/v1/jobs/{id}/events/: the audit trail."""

from __future__ import annotations

from jobs.models import JobEvent
from tests.factories import job_data
from tests.jobs.api.conftest import SECRET, assert_error, http_action


def events_url(job_id) -> str:
    return f"/api/v1/jobs/{job_id}/events/"


def test_every_change_is_in_the_audit_trail_newest_first(api, user):
    job_id = api.post("/api/v1/jobs/", job_data(name="audited", action=http_action()), format="json").json()["id"]
    api.patch(
        f"/api/v1/jobs/{job_id}/",
        {"name": "renamed", "schedule": {"phrase": "every hour"}, "action": http_action(headers={"A": "new-1"})},
        format="json",
    )
    api.post(f"/api/v1/jobs/{job_id}/pause/")
    api.post(f"/api/v1/jobs/{job_id}/resume/")
    run_id = api.post(f"/api/v1/jobs/{job_id}/run/").json()["run_id"]

    response = api.get(events_url(job_id))

    assert response.status_code == 200, response.content
    events = response.json()["results"]
    assert [event["kind"] for event in events] == ["run_requested", "resumed", "paused", "updated", "created"]
    assert {event["actor"] for event in events} == {"alice"}
    assert all(event["job"] == job_id for event in events)
    assert events[0]["changes"] == {"run_id": run_id}
    updated = events[3]["changes"]
    assert updated["name"] == {"old": "audited", "new": "renamed"}
    assert updated["cron"] == {"old": "0 9 * * 1", "new": "0 * * * *"}
    assert updated["phrase"] == {"old": "", "new": "every hour"}
    assert updated["http_headers"] == {
        "old": {"Authorization": "••••", "X-Trace": "••••"},
        "new": {"A": "••••"},
        "summary": ["header A: added", "header Authorization: removed", "header X-Trace: removed"],
    }
    assert SECRET not in response.content.decode() and "new-1" not in response.content.decode()


def test_deletion_is_recorded_and_outlives_the_job(api, make_job, user):
    job = make_job(user)
    api.delete(f"/api/v1/jobs/{job.pk}/")
    assert_error(api.get(events_url(job.pk)), 404, "not_found")  # the job is gone from the API
    event = JobEvent.objects.get(job_ref=job.pk, kind="deleted")
    assert (event.job_id, event.job_name, event.actor_name) == (None, job.name, "alice")


def test_events_are_paginated(api, make_job, user):
    job = make_job(user)
    for n in range(3):
        api.patch(f"/api/v1/jobs/{job.pk}/", {"description": f"v{n}"}, format="json")
    page = api.get(events_url(job.pk), {"page_size": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2


def test_another_users_job_is_404(api, make_job, bob):
    assert_error(api.get(events_url(make_job(bob).pk)), 404, "not_found")


def test_staff_see_any_users_events(login, staff, make_job, bob):
    job = make_job(bob)
    events = login(staff).get(events_url(job.pk)).json()["results"]
    assert [(event["kind"], event["actor"]) for event in events] == [("created", "bob")]


def test_anonymous_is_401(anon, make_job, user):
    assert_error(anon.get(events_url(make_job(user).pk)), 401, "not_authenticated")
