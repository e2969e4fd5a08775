"""One user's unusual row never breaks a page for anyone (issue 15).

Rows are written as an older release could have stored them, before schedules
were bounded (`every 1000000 days`, a once instant on 9999-12-31): the owner's
list and detail, a staff list that contains them, their admin pages and
another user's list all answer 200, and the row shows no fire times past the
end of time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from jobs.models import Job
from tests import factories

STORED_BEFORE_BOUNDS = [
    pytest.param(
        {"schedule_kind": "interval", "interval_every": 1_000_000, "interval_unit": "days", "phrase": ""},
        id="every-1000000-days",
    ),
    pytest.param({"schedule_kind": "once", "once_at": datetime(9999, 12, 31, 23, 59, tzinfo=UTC)}, id="once-9999"),
    # Rows no release could compute: a cron field out of range, a zone tzdata no longer has.
    pytest.param({"schedule_kind": "cron", "cron": "61 * * * *", "phrase": ""}, id="bad-cron"),
    pytest.param({"schedule_kind": "cron", "cron": "0 9 * * 1", "timezone": "Mars/Olympus_Mons"}, id="gone-zone"),
]


@pytest.fixture(params=STORED_BEFORE_BOUNDS)
def bad_job(request: pytest.FixtureRequest, user: Any) -> Job:
    job = factories.job(user, schedule=factories.INTERVAL)
    Job.objects.filter(pk=job.pk).update(**request.param)
    return Job.objects.get(pk=job.pk)


def test_the_owners_list_and_detail_answer(api: Any, bad_job: Job) -> None:
    listed = api.get("/api/v1/jobs/")
    assert listed.status_code == 200, listed.content
    (row,) = [row for row in listed.json()["results"] if row["id"] == str(bad_job.pk)]
    assert all(when < "9999" for when in row["schedule"]["next_runs"])
    if bad_job.schedule_kind == "cron":  # the problem is shown where the fire times would be
        assert row["schedule"]["next_runs"] == []
        assert "cannot be computed" in row["schedule"]["human"]
    detail = api.get(f"/api/v1/jobs/{bad_job.pk}/")
    assert detail.status_code == 200, detail.content


def test_a_staff_list_that_contains_it_answers(staff: Any, login: Any, bad_job: Job) -> None:
    factories.job(staff)
    response = login(staff).get("/api/v1/jobs/?page_size=100")
    assert response.status_code == 200, response.content
    assert str(bad_job.pk) in {row["id"] for row in response.json()["results"]}


def test_another_users_list_answers(make_user: Any, login: Any, bad_job: Job) -> None:
    other = make_user()
    factories.job(other)
    response = login(other).get("/api/v1/jobs/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_explain_pause_and_resume_answer(api: Any, bad_job: Job) -> None:
    uncomputable = bad_job.schedule_kind == "cron"
    explained = api.get(f"/api/v1/jobs/{bad_job.pk}/explain/")
    assert explained.status_code == (409 if uncomputable else 200), explained.content
    assert api.post(f"/api/v1/jobs/{bad_job.pk}/pause/").status_code == 200
    resumed = api.post(f"/api/v1/jobs/{bad_job.pk}/resume/")
    if uncomputable:
        # A clear 400 that says to edit the schedule; the job stays paused.
        assert resumed.status_code == 400 and "schedule" in resumed.json()["error"]["fields"], resumed.content
        assert not Job.objects.get(pk=bad_job.pk).enabled
    else:
        assert resumed.status_code == 200


def test_it_can_still_be_edited_and_deleted(api: Any, bad_job: Job) -> None:
    fixed = {"schedule": {"phrase": "every 15 minutes"}}
    assert api.patch(f"/api/v1/jobs/{bad_job.pk}/", fixed, format="json").status_code == 200
    assert api.delete(f"/api/v1/jobs/{bad_job.pk}/").status_code == 204


def test_its_admin_pages_answer(staff: Any, bad_job: Job) -> None:
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/jobs/job/").status_code == 200
    assert client.get(f"/admin/jobs/job/{bad_job.pk}/change/").status_code == 200
    assert client.get("/admin/").status_code == 200
