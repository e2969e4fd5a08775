"""django-celery-beat's pages: a job's mirror row is read-only and links to the job; other rows stay editable."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from jobs.models import Job


@pytest.fixture
def job(user: Any, make_job: Any) -> Job:
    return make_job(user, name="mirrored", schedule={"kind": "cron", "cron": "0 9 * * 1", "timezone": "Europe/Berlin"})


@pytest.fixture
def mirror(job: Job) -> PeriodicTask:
    return PeriodicTask.objects.get(name=f"job:{job.pk}")


@pytest.fixture
def other(db: Any) -> PeriodicTask:
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(name="housekeeping", task="celery.backend_cleanup", interval=every)


def test_job_owned_task_page_is_read_only_and_links_to_the_job(
    staff_client: Client, job: Job, mirror: PeriodicTask
) -> None:
    response = staff_client.get(f"/admin/django_celery_beat/periodictask/{mirror.pk}/change/")
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert f'href="/admin/jobs/job/{job.pk}/change/"' in html
    assert "Mirrors a job" in html


def test_job_owned_task_cannot_be_changed_or_deleted(staff_client: Client, job: Job, mirror: PeriodicTask) -> None:
    url = f"/admin/django_celery_beat/periodictask/{mirror.pk}"
    response = staff_client.post(f"{url}/change/", {"name": mirror.name, "task": "x", "enabled": ""})
    assert response.status_code == 403
    assert staff_client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    mirror.refresh_from_db()
    assert mirror.enabled and mirror.task == "jobs.run_job"


def test_bulk_actions_skip_job_owned_tasks(staff_client: Client, mirror: PeriodicTask, other: PeriodicTask) -> None:
    response = staff_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [str(mirror.pk), str(other.pk)]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Skipped 1 job-owned periodic task" in m for m in messages)
    mirror.refresh_from_db()
    other.refresh_from_db()
    assert mirror.enabled is True and other.enabled is False

    response = staff_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "delete_selected", "_selected_action": [str(mirror.pk)], "post": "yes"},
        follow=True,
    )
    assert PeriodicTask.objects.filter(pk=mirror.pk).exists()


def test_other_tasks_stay_editable(staff_client: Client, other: PeriodicTask) -> None:
    response = staff_client.get(f"/admin/django_celery_beat/periodictask/{other.pk}/change/")
    assert response.context["has_change_permission"] is True
    assert 'name="_save"' in response.content.decode()


def test_list_marks_and_filters_job_owned_tasks(
    staff_client: Client, job: Job, mirror: PeriodicTask, other: PeriodicTask
) -> None:
    response = staff_client.get("/admin/django_celery_beat/periodictask/")
    assert f'href="/admin/jobs/job/{job.pk}/change/"' in response.content.decode()
    owned = staff_client.get("/admin/django_celery_beat/periodictask/", {"managed_by": "job"})
    assert [t.pk for t in owned.context["cl"].result_list] == [mirror.pk]
    not_owned = staff_client.get("/admin/django_celery_beat/periodictask/", {"managed_by": "other"})
    assert other.pk in [t.pk for t in not_owned.context["cl"].result_list]
    assert mirror.pk not in [t.pk for t in not_owned.context["cl"].result_list]


def test_a_schedule_row_a_job_uses_is_read_only(
    staff_client: Client, mirror: PeriodicTask, other: PeriodicTask
) -> None:
    crontab = CrontabSchedule.objects.get(pk=mirror.crontab_id)
    response = staff_client.get(f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/change/")
    assert response.context["has_change_permission"] is False
    response = staff_client.post(
        f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/change/", {"minute": "5", "hour": "*"}
    )
    assert response.status_code == 403
    interval = other.interval
    response = staff_client.get(f"/admin/django_celery_beat/intervalschedule/{interval.pk}/change/")
    assert response.context["has_change_permission"] is True
