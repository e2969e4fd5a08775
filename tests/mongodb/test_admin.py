"""Every admin page and action that reads or writes the database, under MongoDB settings with pymongo recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.forms import MultiWidget
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from accounts.models import User
from jobs import services
from jobs.admin.site import SchedulerAdminSite
from jobs.models import Job, JobEvent, JobRun, RunStatus
from tests.mongodb import data


@pytest.fixture
def admin_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def job(user: Any) -> Job:
    return data.make_job(user, name="nightly report", action=data.http_action())


def form_post_data(response: Any, **overrides: Any) -> dict[str, Any]:
    """What the browser would post back for the form on an admin add/change page, unchanged, plus `overrides`."""
    form = response.context["adminform"].form
    post: dict[str, Any] = {}
    for name, bound in form.fields.items():
        value = form[name].value()
        widget = bound.widget
        if isinstance(widget, MultiWidget):
            values = value if isinstance(value, (list, tuple)) else widget.decompress(value)
            for suffix, sub, item in zip(widget.widgets_names, widget.widgets, values, strict=True):
                post[f"{name}{suffix}"] = sub.format_value(item) or ""
        elif isinstance(value, bool):
            if value:
                post[name] = "on"
        elif isinstance(value, (list, tuple)):
            post[name] = [str(item) for item in value]
        elif value is not None:
            post[name] = str(value)
    post.update(overrides)
    return {key: value for key, value in post.items() if value is not None}


def changelist_action(client: Client, url: str, action: str, objects: list[Any]) -> Any:
    return client.post(url, {"action": action, "_selected_action": [str(o.pk) for o in objects], "index": 0})


def job_form(owner: Any, **overrides: Any) -> dict[str, Any]:
    form = {
        "name": "from the admin",
        "owner": str(owner.pk),
        "description": "",
        "enabled": "on",
        "kind": "phrase",
        "phrase": "every monday at 09:00",
        "every": "",
        "unit": "minutes",
        "cron": "",
        "at": "",
        "timezone": "Europe/Berlin",
        "action_type": "task",
        "http_method": "GET",
        "http_url": "",
        "http_headers": "",
        "http_body": "",
        "http_expected_status": "",
        "task": "echo",
        "task_args": "",
        "task_kwargs": '{"report": "nightly"}',
        "timeout_seconds": "60",
        "max_retries": "0",
        "retry_backoff_seconds": "10",
        "overlap_policy": "skip",
        "catchup_policy": "skip",
        "jitter_seconds": "0",
        "pause_after_failures": "",
    }
    form.update(overrides)
    return form


# --- site pages ---------------------------------------------------------------------------------------


def test_the_default_site_is_the_scheduler_site(db: Any) -> None:
    # MongoAdminConfig stands in for SchedulerAdminConfig here: it must keep the scheduler's site.
    assert isinstance(admin.site, SchedulerAdminSite)
    assert admin.site.is_registered(Job)


def test_login_and_logout(mql: Any, staff: Any) -> None:
    client = Client()
    with mql.path("admin.login"):
        response = client.post("/admin/login/", {"username": "root", "password": staff.raw_password})
    assert response.status_code == 302, response.content
    with mql.path("admin.logout"):
        response = client.post("/admin/logout/")
    assert response.status_code == 200


def test_index(mql: Any, admin_client: Client) -> None:
    with mql.path("admin.index"):
        response = admin_client.get("/admin/")
    assert response.status_code == 200


def test_overview(mql: Any, admin_client: Client, job: Any) -> None:
    data.make_run(job, status=RunStatus.FAILED, ago=timedelta(hours=2))
    data.make_run(job, status=RunStatus.SUCCEEDED, ago=timedelta(minutes=20))
    with mql.path("admin.overview"):
        response = admin_client.get("/admin/overview/")
    assert response.status_code == 200
    assert response.context["counts"] == {"total": 1, "enabled": 1, "paused": 0, "failing": 0}
    assert response.context["chart"]["total"] == 2


# --- jobs ------------------------------------------------------------------------------------------------


def test_job_changelist(mql: Any, admin_client: Client, job: Any) -> None:
    with mql.path("admin.job.changelist"):
        response = admin_client.get("/admin/jobs/job/")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [job]


def test_job_changelist_filters_search_and_ordering(mql: Any, admin_client: Client, job: Any, user: Any) -> None:
    query = f"enabled__exact=1&last_status=failing&schedule_kind__exact=interval&owner__id__exact={user.pk}&q=night&o=4"
    with mql.path("admin.job.changelist_filtered"):
        response = admin_client.get(f"/admin/jobs/job/?{query}")
    assert response.status_code == 200
    with mql.path("admin.job.changelist_never_run"):
        response = admin_client.get("/admin/jobs/job/?last_status=never&q=alice")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [job]


def test_job_add(mql: Any, admin_client: Client, user: Any) -> None:
    with mql.path("admin.job.add_page"):
        response = admin_client.get("/admin/jobs/job/add/")
    assert response.status_code == 200
    with mql.path("admin.job.add"):
        response = admin_client.post("/admin/jobs/job/add/", job_form(user))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Job.objects.filter(name="from the admin").exists()


def test_job_change(mql: Any, admin_client: Client, job: Any) -> None:
    data.make_run(job, status=RunStatus.FAILED)
    with mql.path("admin.job.change_page"):
        response = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert response.status_code == 200
    assert len(response.context["recent_runs"]) == 1
    with mql.path("admin.job.change"):
        response = admin_client.post(
            f"/admin/jobs/job/{job.pk}/change/", form_post_data(response, name="renamed", timeout_seconds="30")
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert (job.name, job.timeout_seconds) == ("renamed", 30)


def test_job_history(mql: Any, admin_client: Client, job: Any) -> None:
    with mql.path("admin.job.history"):
        response = admin_client.get(f"/admin/jobs/job/{job.pk}/history/")
    assert response.status_code == 200


def test_job_delete(mql: Any, admin_client: Client, job: Any) -> None:
    # (A job with runs cannot be deleted here: runs are read-only in the admin, so Django
    # refuses the cascade with 403 on every backend. The API and the services delete it.)
    with mql.path("admin.job.delete_page"):
        response = admin_client.get(f"/admin/jobs/job/{job.pk}/delete/")
    assert response.status_code == 200
    with mql.path("admin.job.delete"):
        response = admin_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize("action", ["run_now", "pause", "duplicate", "delete_selected"])
def test_job_changelist_actions(mql: Any, admin_client: Client, job: Any, action: str) -> None:
    post = {"action": action, "_selected_action": [str(job.pk)], "index": 0}
    if action == "delete_selected":
        post["post"] = "yes"
    with mql.path(f"admin.job.action_{action}"):
        response = admin_client.post("/admin/jobs/job/", post)
    assert response.status_code == 302


def test_job_changelist_action_resume(mql: Any, admin_client: Client, job: Any, user: Any) -> None:
    services.job_pause(job=job, actor=user)
    with mql.path("admin.job.action_resume"):
        response = changelist_action(admin_client, "/admin/jobs/job/", "resume", [job])
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.enabled


@pytest.mark.parametrize("verb", ["run", "pause", "duplicate"])
def test_job_page_buttons(mql: Any, admin_client: Client, job: Any, verb: str) -> None:
    with mql.path(f"admin.job.do_{verb}"):
        response = admin_client.post(f"/admin/jobs/job/{job.pk}/do/{verb}/")
    assert response.status_code == 302


def test_job_schedule_preview(mql: Any, admin_client: Client) -> None:
    # Only the session and the staff user are read: the preview itself is computed.
    with mql.path("admin.job.preview"):
        response = admin_client.post("/admin/jobs/job/preview/", {"kind": "cron", "cron": "*/5 * * * *"})
    assert response.status_code == 200
    assert response.json()["ok"] is True


# --- runs and events ------------------------------------------------------------------------------------


def test_run_changelist(mql: Any, admin_client: Client, job: Any) -> None:
    data.make_run(job, status=RunStatus.TIMED_OUT)
    with mql.path("admin.jobrun.changelist"):
        response = admin_client.get("/admin/jobs/jobrun/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    query = urlencode(
        {
            "status__exact": "timed_out",
            "trigger__exact": "schedule",
            "scheduled_for__gte": today.isoformat(),
            "scheduled_for__lt": (today + timedelta(days=1)).isoformat(),
            "job__id__exact": str(job.pk),
            "q": "night",
            "o": "-2",
        }
    )
    with mql.path("admin.jobrun.changelist_filtered"):
        response = admin_client.get(f"/admin/jobs/jobrun/?{query}")
    assert response.status_code == 200


def test_run_page(mql: Any, admin_client: Client, job: Any) -> None:
    run = data.make_run(job, status=RunStatus.FAILED)
    with mql.path("admin.jobrun.change_page"):
        response = admin_client.get(f"/admin/jobs/jobrun/{run.pk}/change/")
    assert response.status_code == 200


def test_event_changelist_and_page(mql: Any, admin_client: Client, job: Any) -> None:
    with mql.path("admin.jobevent.changelist"):
        response = admin_client.get(f"/admin/jobs/jobevent/?job_ref={job.pk}&kind__exact=created&q=night")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    event = JobEvent.objects.get(job_ref=job.pk)
    with mql.path("admin.jobevent.change_page"):
        response = admin_client.get(f"/admin/jobs/jobevent/{event.pk}/change/")
    assert response.status_code == 200


# --- users ---------------------------------------------------------------------------------------------------


def test_user_changelist(mql: Any, admin_client: Client, user: Any) -> None:
    with mql.path("admin.user.changelist"):
        response = admin_client.get("/admin/accounts/user/?is_active__exact=1&q=ali")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [user]


def test_user_add(mql: Any, admin_client: Client) -> None:
    with mql.path("admin.user.add_page"):
        response = admin_client.get("/admin/accounts/user/add/")
    assert response.status_code == 200
    form = {"username": "carol", "usable_password": "true", "password1": "Xk9!long-pass", "password2": "Xk9!long-pass"}
    with mql.path("admin.user.add"):
        response = admin_client.post("/admin/accounts/user/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.filter(username="carol").exists()


def test_user_change_unticking_active_deactivates(mql: Any, admin_client: Client, user: Any, job: Any) -> None:
    with mql.path("admin.user.change_page"):
        response = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert response.status_code == 200
    post = form_post_data(response, is_active=None, email="alice@example.org")
    with mql.path("admin.user.change_deactivate"):
        response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", post)
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert not job.enabled


def test_user_password_change(mql: Any, admin_client: Client, user: Any) -> None:
    form = {"password1": "Yz8!other-pass", "password2": "Yz8!other-pass", "usable_password": "true"}
    with mql.path("admin.user.password"):
        response = admin_client.post(f"/admin/accounts/user/{user.pk}/password/", form)
    assert response.status_code == 302, response.content


def test_user_deactivate_action(mql: Any, admin_client: Client, user: Any, job: Any) -> None:
    with mql.path("admin.user.action_deactivate"):
        response = changelist_action(admin_client, "/admin/accounts/user/", "deactivate", [user])
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active


def test_group_pages(mql: Any, admin_client: Client) -> None:
    with mql.path("admin.group.add_page"):
        response = admin_client.get("/admin/auth/group/add/")
    assert response.status_code == 200
    with mql.path("admin.group.changelist"):
        response = admin_client.get("/admin/auth/group/")
    assert response.status_code == 200


# --- django-celery-beat --------------------------------------------------------------------------------------


@pytest.fixture
def other_task(db: Any) -> PeriodicTask:
    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="reports:warm-cache", task="jobs.prune_runs", interval=every)


def test_periodic_task_changelist(mql: Any, admin_client: Client, job: Any, other_task: Any) -> None:
    with mql.path("admin.periodictask.changelist"):
        response = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    with mql.path("admin.periodictask.changelist_job_owned"):
        response = admin_client.get("/admin/django_celery_beat/periodictask/?managed_by=job&enabled__exact=1&q=job")
    assert response.status_code == 200
    with mql.path("admin.periodictask.changelist_not_job_owned"):
        response = admin_client.get("/admin/django_celery_beat/periodictask/?managed_by=other")
    assert response.status_code == 200


def test_periodic_task_pages(mql: Any, admin_client: Client, job: Any, user: Any, other_task: Any) -> None:
    # A cron job too: the task form lists every crontab row (keyed by id, an ObjectId here).
    data.make_job(user, schedule=data.CRON)
    mirror = PeriodicTask.objects.get(name=f"job:{job.pk}")
    with mql.path("admin.periodictask.change_page_job_owned"):
        response = admin_client.get(f"/admin/django_celery_beat/periodictask/{mirror.pk}/change/")
    assert response.status_code == 200
    with mql.path("admin.periodictask.change_page"):
        response = admin_client.get(f"/admin/django_celery_beat/periodictask/{other_task.pk}/change/")
    assert response.status_code == 200
    with mql.path("admin.periodictask.change"):
        response = admin_client.post(
            f"/admin/django_celery_beat/periodictask/{other_task.pk}/change/",
            form_post_data(response, description="warms the report cache"),
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    with mql.path("admin.periodictask.add_page"):
        response = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    assert response.status_code == 200


@pytest.mark.parametrize("action", ["enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"])
def test_periodic_task_actions(mql: Any, admin_client: Client, job: Any, other_task: Any, action: str) -> None:
    mirror = PeriodicTask.objects.get(name=f"job:{job.pk}")
    with mql.path(f"admin.periodictask.action_{action}"):
        response = changelist_action(
            admin_client, "/admin/django_celery_beat/periodictask/", action, [mirror, other_task]
        )
    assert response.status_code == 302


@pytest.mark.parametrize("model", ["crontabschedule", "intervalschedule", "clockedschedule", "solarschedule"])
def test_schedule_pages(mql: Any, admin_client: Client, user: Any, model: str) -> None:
    data.make_job(user, schedule=data.CRON)
    data.make_job(user, schedule=data.INTERVAL)
    data.make_job(user, schedule=data.once())
    SolarSchedule.objects.create(event="sunrise", latitude=48.85, longitude=2.35)
    row = {
        "crontabschedule": CrontabSchedule,
        "intervalschedule": IntervalSchedule,
        "clockedschedule": ClockedSchedule,
        "solarschedule": SolarSchedule,
    }[model].objects.first()
    with mql.path(f"admin.{model}.changelist"):
        response = admin_client.get(f"/admin/django_celery_beat/{model}/")
    assert response.status_code == 200
    with mql.path(f"admin.{model}.change_page"):
        response = admin_client.get(f"/admin/django_celery_beat/{model}/{row.pk}/change/")
    assert response.status_code == 200


def test_run_admin_is_read_only_even_for_a_finished_run(admin_client: Client, job: Any) -> None:
    run = data.make_run(job, status=RunStatus.SUCCEEDED)
    response = admin_client.post(f"/admin/jobs/jobrun/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert JobRun.objects.filter(pk=run.pk).exists()
