"""django-celery-beat's pages: a job's mirror row is read-only and links to the job; other rows stay editable."""

from __future__ import annotations

from datetime import UTC, datetime
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


@pytest.fixture
def reaper(db: Any) -> PeriodicTask:
    """The reaper's row as beat creates it from CELERY_BEAT_SCHEDULE."""
    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="system:reap-lost-runs", task="jobs.reap_lost_runs", interval=every)


def test_a_system_task_cannot_be_changed_or_deleted(staff_client: Client, reaper: PeriodicTask) -> None:
    url = f"/admin/django_celery_beat/periodictask/{reaper.pk}"
    page = staff_client.get(f"{url}/change/")
    assert page.context["has_change_permission"] is False
    html = page.content.decode()
    assert 'name="_save"' not in html and "defined in settings (CELERY_BEAT_SCHEDULE)" in html
    assert staff_client.post(f"{url}/change/", {"name": reaper.name, "task": "x", "enabled": ""}).status_code == 403
    assert staff_client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    reaper.refresh_from_db()
    assert reaper.enabled and reaper.task == "jobs.reap_lost_runs"


@pytest.mark.parametrize("action", ["disable_tasks", "toggle_tasks"])
def test_bulk_actions_cannot_stop_a_system_task(
    staff_client: Client, reaper: PeriodicTask, other: PeriodicTask, action: str
) -> None:
    response = staff_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": action, "_selected_action": [str(reaper.pk), str(other.pk)]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Skipped 1 system task(s) (system:reap-lost-runs)" in m for m in messages)
    reaper.refresh_from_db()
    other.refresh_from_db()
    assert reaper.enabled is True and other.enabled is False


def test_the_bulk_delete_keeps_a_system_task(staff_client: Client, reaper: PeriodicTask) -> None:
    staff_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "delete_selected", "_selected_action": [str(reaper.pk)], "post": "yes"},
        follow=True,
    )
    assert PeriodicTask.objects.filter(pk=reaper.pk).exists()


def test_a_job_owned_row_shows_the_jobs_name_link_and_last_run(
    staff_client: Client, job: Job, mirror: PeriodicTask, reaper: PeriodicTask, other: PeriodicTask
) -> None:
    Job.objects.filter(pk=job.pk).update(last_run_at=datetime(2025, 6, 2, 7, 0, tzinfo=UTC))
    response = staff_client.get("/admin/django_celery_beat/periodictask/")
    html = response.content.decode()
    # Each row's name cell (the <th>) and the whole row.
    rows = {row.split("<th", 1)[1].split("</th>", 1)[0]: row for row in html.split("<tr")[1:] if "<th " in row}
    head, job_row = next((head, row) for head, row in rows.items() if "mirrored" in head)
    assert f"job:{job.pk}" not in head  # the job's name, not its mirror's
    assert f'<a href="/admin/jobs/job/{job.pk}/change/">open job</a>' in job_row
    assert "2025-06-02 09:00" in job_row  # the job's last run, in its zone (Berlin, summer time)
    assert any("system:reap-lost-runs" in head and "(system)" in head for head in rows)
    system = staff_client.get("/admin/django_celery_beat/periodictask/", {"managed_by": "system"})
    assert [t.pk for t in system.context["cl"].result_list] == [reaper.pk]
    neither = staff_client.get("/admin/django_celery_beat/periodictask/", {"managed_by": "other"})
    assert [t.pk for t in neither.context["cl"].result_list] == [other.pk]


def test_the_task_list_costs_a_bounded_number_of_queries(
    staff_client: Client, user: Any, make_job: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        make_job(user, name=f"mirrored-{i}")
    staff_client.get("/admin/django_celery_beat/periodictask/")  # warm the session
    with django_assert_max_num_queries(12):
        assert staff_client.get("/admin/django_celery_beat/periodictask/").status_code == 200


@pytest.mark.parametrize(
    "cron",
    ["0 9 L * *", "0 9 LW * *", "0 9 15W * *", "0 17 * * 5L", "0 9 * * 1#2", "0 22-2 * * *", "0 9 * * FRI-MON"],
)
def test_mirror_rows_of_cron_syntax_from_other_schedulers_render(
    staff_client: Client, user: Any, make_job: Any, cron: str
) -> None:
    # Celery's crontab cannot evaluate L, W or #: the mirror row is never fired (beat times jobs
    # itself), but django-celery-beat's pages show it and must not fail on it.
    job = make_job(user, name="other-syntax", schedule={"kind": "cron", "cron": cron})
    mirror = PeriodicTask.objects.get(name=f"job:{job.pk}")
    assert staff_client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert staff_client.get(f"/admin/django_celery_beat/periodictask/{mirror.pk}/change/").status_code == 200
    assert staff_client.get("/admin/django_celery_beat/crontabschedule/").status_code == 200
    crontab = mirror.crontab
    assert staff_client.get(f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/change/").status_code == 200
