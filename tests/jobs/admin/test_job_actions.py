"""Run now, pause, resume, duplicate and delete, from the list and from a job's page: all through the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from accounts.services import user_deactivate
from jobs import services
from jobs.models import EventKind, Job, JobEvent, JobRun, PauseReason, RunStatus, RunTrigger

from .conftest import SECRET, changelist_action, http_action


@pytest.fixture
def jobs(user: Any, make_job: Any) -> list[Job]:
    return [make_job(user, name="a"), make_job(user, name="b")]


def events(job: Job, kind: str) -> list[JobEvent]:
    return list(JobEvent.objects.filter(job_ref=job.pk, kind=kind))


def mirror(job: Job) -> PeriodicTask:
    return PeriodicTask.objects.get(name=f"job:{job.pk}")


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_run_now_queues_a_manual_run_per_job(
    staff_client: Client, staff: Any, jobs: list[Job], sent_runs: list[Any]
) -> None:
    response = changelist_action(staff_client, "run_now", jobs)
    assert "Queued a manual run of 2 jobs." in messages_of(response)
    for job in jobs:
        (run,) = JobRun.objects.filter(job=job)
        assert (run.trigger, run.status) == (RunTrigger.MANUAL, RunStatus.QUEUED)
        (event,) = events(job, EventKind.RUN_REQUESTED)
        assert event.actor == staff and event.changes == {"run_id": str(run.pk)}
    assert sorted(run.job.name for run in sent_runs) == ["a", "b"]  # handed to the workers


def test_pause_and_resume_keep_beat_in_step(staff_client: Client, staff: Any, jobs: list[Job]) -> None:
    response = changelist_action(staff_client, "pause", jobs)
    assert "Paused 2 jobs." in messages_of(response)
    for job in jobs:
        job.refresh_from_db()
        assert (job.enabled, job.paused_reason, job.next_run_at) == (False, PauseReason.USER, None)
        assert events(job, EventKind.PAUSED)[0].actor == staff
        assert mirror(job).enabled is False  # django-celery-beat's row followed

    response = changelist_action(staff_client, "resume", jobs)
    assert "Resumed 2 jobs." in messages_of(response)
    for job in jobs:
        job.refresh_from_db()
        assert job.enabled and job.next_run_at is not None
        assert events(job, EventKind.RESUMED)[0].actor == staff
        assert mirror(job).enabled is True


def test_pausing_a_paused_job_changes_nothing(staff_client: Client, jobs: list[Job]) -> None:
    changelist_action(staff_client, "pause", jobs[:1])
    response = changelist_action(staff_client, "pause", jobs)
    assert "Paused 1 job." in messages_of(response)
    assert len(events(jobs[0], EventKind.PAUSED)) == 1


def test_staff_can_resume_a_job_paused_by_owner_deactivation(
    staff_client: Client, staff: Any, user: Any, jobs: list[Job]
) -> None:
    user_deactivate(user=user, actor=staff)
    response = changelist_action(staff_client, "resume", jobs)
    assert "Resumed 2 jobs." in messages_of(response)


def test_duplicate_makes_paused_copies_with_the_secrets(
    staff_client: Client, staff: Any, user: Any, make_job: Any
) -> None:
    job = make_job(user, name="hook", action=http_action())
    response = changelist_action(staff_client, "duplicate", [job])
    copy = Job.objects.get(name="hook (copy)")
    assert (copy.owner, copy.enabled, copy.http_headers) == (user, False, {"Authorization": SECRET})
    assert events(copy, EventKind.CREATED)[0].actor == staff
    assert any("Created 1 job (paused)" in message for message in messages_of(response))
    changelist_action(staff_client, "duplicate", [job])
    assert Job.objects.filter(name="hook (copy 2)").exists()


def test_delete_goes_through_the_service(staff_client: Client, staff: Any, jobs: list[Job]) -> None:
    response = staff_client.post(
        "/admin/jobs/job/",
        {"action": "delete_selected", "_selected_action": [str(jobs[0].pk)], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert not Job.objects.filter(pk=jobs[0].pk).exists()
    deleted = JobEvent.objects.get(job_ref=jobs[0].pk, kind=EventKind.DELETED)
    assert deleted.actor == staff
    assert not PeriodicTask.objects.filter(name=f"job:{jobs[0].pk}").exists()


@pytest.mark.parametrize(
    ("verb", "check"),
    [
        ("run", lambda job: JobRun.objects.filter(job=job, trigger=RunTrigger.MANUAL).count() == 1),
        ("pause", lambda job: not Job.objects.get(pk=job.pk).enabled),
        ("duplicate", lambda job: Job.objects.filter(name=f"{job.name} (copy)").exists()),
    ],
)
def test_buttons_on_the_job_page(staff_client: Client, jobs: list[Job], verb: str, check: Any) -> None:
    job = jobs[0]
    page = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert f'action="/admin/jobs/job/{job.pk}/do/{verb}/"' in page
    response = staff_client.post(f"/admin/jobs/job/{job.pk}/do/{verb}/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/jobs/job/{job.pk}/change/"
    assert check(job)


def test_resume_button_replaces_pause_on_a_paused_job(staff_client: Client, jobs: list[Job]) -> None:
    job = jobs[0]
    staff_client.post(f"/admin/jobs/job/{job.pk}/do/pause/")
    page = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "/do/resume/" in page and "/do/pause/" not in page
    staff_client.post(f"/admin/jobs/job/{job.pk}/do/resume/")
    assert Job.objects.get(pk=job.pk).enabled


def test_buttons_need_post_and_a_known_verb(staff_client: Client, jobs: list[Job]) -> None:
    job = jobs[0]
    assert staff_client.get(f"/admin/jobs/job/{job.pk}/do/pause/").status_code == 405
    assert staff_client.post(f"/admin/jobs/job/{job.pk}/do/explode/").status_code == 403
    assert Job.objects.get(pk=job.pk).enabled


def test_delete_from_the_job_page_goes_through_the_service(staff_client: Client, staff: Any, jobs: list[Job]) -> None:
    job = jobs[1]
    response = staff_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    assert JobEvent.objects.get(job_ref=job.pk, kind=EventKind.DELETED).actor == staff
    assert not PeriodicTask.objects.filter(name=f"job:{job.pk}").exists()


def test_a_job_that_has_runs_can_be_deleted(staff_client: Client, staff: Any, jobs: list[Job]) -> None:
    job = jobs[0]
    run = services.job_request_run(job=job, actor=staff)
    confirm = staff_client.get(f"/admin/jobs/job/{job.pk}/delete/")
    assert confirm.status_code == 200  # not "you lack permission to delete job runs"
    response = staff_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not JobRun.objects.filter(pk=run.pk).exists()
