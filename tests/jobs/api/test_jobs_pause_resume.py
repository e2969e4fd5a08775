"""POST /api/v1/jobs/{id}/pause/ and .../resume/, and pausing on deactivation."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from accounts.services import user_deactivate
from jobs.models import Job, JobEvent, JobRun
from tests.jobs.api.conftest import assert_error


def pause(client, job):
    return client.post(f"/api/v1/jobs/{job.pk}/pause/")


def resume(client, job):
    return client.post(f"/api/v1/jobs/{job.pk}/resume/")


def test_pause_returns_the_paused_job(api, make_job, user):
    job = make_job(user)

    response = pause(api, job)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["enabled"] is False and body["paused_reason"] == "user"
    assert body["next_run_at"] is None and body["schedule"]["next_runs"] == []
    job.refresh_from_db()
    assert not job.enabled and job.next_run_at is None


def test_pausing_a_paused_job_changes_nothing(api, make_job, user):
    job = make_job(user)
    pause(api, job)
    assert pause(api, job).status_code == 200
    assert JobEvent.objects.filter(job_ref=job.pk, kind="paused").count() == 1


def test_resume_fires_at_the_next_slot_after_now(api, make_job, user):
    job = make_job(user, schedule={"phrase": "every hour"})
    pause(api, job)

    response = resume(api, job)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["enabled"] is True and body["paused_reason"] == ""
    next_run = datetime.fromisoformat(body["next_run_at"])
    assert timezone.now() < next_run
    assert next_run.minute == 0
    assert len(body["schedule"]["next_runs"]) == 5


def test_another_users_job_is_404(api, make_job, bob):
    job = make_job(bob)
    assert_error(pause(api, job), 404, "not_found")
    assert_error(resume(api, job), 404, "not_found")
    job.refresh_from_db()
    assert job.enabled


def test_staff_can_pause_any_users_job(login, staff, make_job, bob):
    job = make_job(bob)
    assert pause(login(staff), job).json()["enabled"] is False


def test_pause_and_resume_need_post(api, make_job, user):
    job = make_job(user)
    assert_error(api.get(f"/api/v1/jobs/{job.pk}/pause/"), 405, "method_not_allowed")


def test_anonymous_is_401(anon, make_job, user):
    assert_error(pause(anon, make_job(user)), 401, "not_authenticated")


def test_deactivating_a_user_pauses_their_jobs_as_system(make_job, user, bob, staff):
    jobs = [make_job(user), make_job(user)]
    other = make_job(bob)

    user_deactivate(user=user, actor=staff)

    for job in jobs:
        job.refresh_from_db()
        assert (job.enabled, job.paused_reason, job.next_run_at) == (False, "owner_deactivated", None)
        event = JobEvent.objects.get(job_ref=job.pk, kind="paused")
        assert event.actor_name == "system" and event.actor is None
        assert event.changes == {"reason": "owner_deactivated"}
    other.refresh_from_db()
    assert other.enabled


def test_a_deactivated_users_token_stops_working_even_for_cached_pages(api, make_job, user, staff):
    make_job(user)
    assert api.get("/api/v1/jobs/").status_code == 200
    assert api.get("/api/v1/jobs/")["X-Cache"] == "hit"

    user_deactivate(user=user, actor=staff)

    assert_error(api.get("/api/v1/jobs/"), 401)


def test_only_staff_can_resume_jobs_paused_by_deactivation(login, make_job, user, staff):
    job = make_job(user)
    user_deactivate(user=user, actor=staff)
    user.is_active = True  # reactivated later
    user.save(update_fields=["is_active"])
    owner = login(user)

    assert_error(resume(owner, job), 403, "permission_denied")
    assert_error(owner.patch(f"/api/v1/jobs/{job.pk}/", {"enabled": True}, format="json"), 403)
    assert not Job.objects.get(pk=job.pk).enabled

    response = resume(login(staff), job)
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is True
    assert JobEvent.objects.get(job_ref=job.pk, kind="resumed").actor_name == "root"


def test_only_staff_can_run_now_a_job_paused_by_deactivation(login, make_job, user, staff):
    job = make_job(user)
    user_deactivate(user=user, actor=staff)
    user.is_active = True  # reactivated later: their jobs stay paused until staff decide
    user.save(update_fields=["is_active"])

    assert_error(login(user).post(f"/api/v1/jobs/{job.pk}/run/"), 403, "permission_denied")
    assert not JobRun.objects.filter(job=job).exists()
    assert not JobEvent.objects.filter(job_ref=job.pk, kind="run_requested").exists()

    assert login(staff).post(f"/api/v1/jobs/{job.pk}/run/").status_code == 202
    assert JobRun.objects.filter(job=job, trigger="manual").count() == 1
