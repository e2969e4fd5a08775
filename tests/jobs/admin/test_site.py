"""The admin site: Django's default site is the scheduler's, with every page on it and the overview among its URLs."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, resolve, reverse
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from accounts.admin import UserAdmin
from accounts.models import User
from jobs.admin.events import JobEventAdmin
from jobs.admin.jobs import JobAdmin
from jobs.admin.periodic_tasks import (
    JobAwareClockedScheduleAdmin,
    JobAwareCrontabScheduleAdmin,
    JobAwareIntervalScheduleAdmin,
    JobAwarePeriodicTaskAdmin,
    JobAwareSolarScheduleAdmin,
)
from jobs.admin.runs import JobRunAdmin
from jobs.admin.site import SchedulerAdminSite
from jobs.models import Job, JobEvent, JobRun


def test_the_default_admin_site_is_the_scheduler_site() -> None:
    assert isinstance(admin.site, SchedulerAdminSite)
    assert (admin.site.site_header, admin.site.site_title, admin.site.index_title) == (
        "Scheduler administration",
        "Scheduler admin",
        "Operations",
    )


def test_every_page_is_registered_on_that_one_site() -> None:
    # Building admin.site imports jobs.admin, whose pages register while it is being built:
    # they must all end up on the site that serves /admin/, django-celery-beat's replaced ones included.
    expected = {
        Job: JobAdmin,
        JobRun: JobRunAdmin,
        JobEvent: JobEventAdmin,
        PeriodicTask: JobAwarePeriodicTaskAdmin,
        CrontabSchedule: JobAwareCrontabScheduleAdmin,
        IntervalSchedule: JobAwareIntervalScheduleAdmin,
        ClockedSchedule: JobAwareClockedScheduleAdmin,
        SolarSchedule: JobAwareSolarScheduleAdmin,
        User: UserAdmin,
    }
    assert {model: type(admin.site.get_model_admin(model)) for model in expected} == expected


def test_the_overview_url_comes_from_the_sites_own_get_urls() -> None:
    # The class's method, not a function set on the default instance, so every SchedulerAdminSite has the page.
    assert admin.site.get_urls.__func__ is SchedulerAdminSite.get_urls
    fresh = SchedulerAdminSite(name="fresh")
    assert "overview" in {pattern.name for pattern in fresh.get_urls() if isinstance(pattern, URLPattern)}

    assert reverse("admin:overview") == "/admin/overview/"
    match = resolve("/admin/overview/")
    assert (match.namespace, match.url_name) == ("admin", "overview")
    assert match.func.__qualname__ == "SchedulerAdminSite.overview_view"
