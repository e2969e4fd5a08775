"""POST /api/v1/jobs/{id}/run/"""

from __future__ import annotations

import uuid

from jobs.models import JobEvent, JobRun
from tests.jobs.api.conftest import assert_error


def run(client, job):
    return client.post(f"/api/v1/jobs/{job.pk}/run/")


def test_run_now_is_202_with_the_run_id_and_the_run_is_sent_to_the_workers(api, make_job, user, sent_runs):
    job = make_job(user)

    response = run(api, job)

    assert response.status_code == 202, response.content
    run_id = uuid.UUID(response.json()["run_id"])
    assert set(response.json()) == {"run_id"}
    queued = JobRun.objects.get(pk=run_id)
    assert (queued.job_id, queued.trigger, queued.status) == (job.pk, "manual", "queued")
    assert [run.pk for run in sent_runs] == [run_id]
    event = JobEvent.objects.get(job_ref=job.pk, kind="run_requested")
    assert event.changes == {"run_id": str(run_id)} and event.actor_name == "alice"


def test_each_request_is_its_own_run(api, make_job, user):
    job = make_job(user)
    first, second = run(api, job).json()["run_id"], run(api, job).json()["run_id"]
    assert first != second
    assert JobRun.objects.filter(job=job).count() == 2


def test_a_paused_job_can_still_be_run_by_hand(api, make_job, user):
    job = make_job(user, enabled=False)
    assert run(api, job).status_code == 202


def test_another_users_job_is_404(api, make_job, bob):
    job = make_job(bob)
    assert_error(run(api, job), 404, "not_found")
    assert not JobRun.objects.exists()


def test_staff_can_run_any_users_job(login, staff, make_job, bob):
    assert run(login(staff), make_job(bob)).status_code == 202


def test_run_needs_post(api, make_job, user):
    assert_error(api.get(f"/api/v1/jobs/{make_job(user).pk}/run/"), 405, "method_not_allowed")


def test_anonymous_is_401(anon, make_job, user):
    assert_error(run(anon, make_job(user)), 401, "not_authenticated")
