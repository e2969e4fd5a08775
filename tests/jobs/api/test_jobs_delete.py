"""DELETE /api/v1/jobs/{id}/"""

from __future__ import annotations

from jobs.models import Job, JobEvent
from tests.jobs.api.conftest import assert_error


def url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/"


def test_delete_is_204_and_the_job_is_gone_but_its_audit_trail_stays(api, make_job, user):
    job = make_job(user, name="doomed")

    response = api.delete(url(job))

    assert response.status_code == 204
    assert response.content == b""
    assert not Job.objects.filter(pk=job.pk).exists()
    assert_error(api.get(url(job)), 404, "not_found")
    kinds = list(JobEvent.objects.filter(job_ref=job.pk).order_by("created_at").values_list("kind", "actor_name"))
    assert kinds == [("created", "alice"), ("deleted", "alice")]


def test_deleting_twice_is_404(api, make_job, user):
    job = make_job(user)
    assert api.delete(url(job)).status_code == 204
    assert_error(api.delete(url(job)), 404, "not_found")


def test_another_users_job_is_404_and_kept(api, make_job, bob):
    job = make_job(bob)
    assert_error(api.delete(url(job)), 404, "not_found")
    assert Job.objects.filter(pk=job.pk).exists()


def test_staff_can_delete_any_users_job(login, staff, make_job, bob):
    job = make_job(bob)
    assert login(staff).delete(url(job)).status_code == 204
    assert JobEvent.objects.get(job_ref=job.pk, kind="deleted").actor_name == "root"


def test_anonymous_is_401(anon, make_job, user):
    job = make_job(user)
    assert_error(anon.delete(url(job)), 401, "not_authenticated")
    assert Job.objects.filter(pk=job.pk).exists()
