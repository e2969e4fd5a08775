"""The job pages' forms, submitted as the rendered page has them (issue 14's first defect).

Every test here loads the add or change page, fills only controls the page
shows, and posts the page's own controls (`tests.jobs.admin.rendered`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from jobs.models import EventKind, Job, JobEvent
from tests import factories
from tests.jobs.admin.rendered import RenderedForm

from .conftest import SECRET, http_action

SCHEDULES = {
    "phrase": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
    "interval": {"kind": "interval", "every": 15, "unit": "minutes"},
    "cron": {"kind": "cron", "cron": "30 6 * * 1-5", "timezone": "America/New_York"},
    "once": {"kind": "once", "at": (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()},
}
ACTIONS = {"http": http_action, "task": lambda: factories.task_action(report="nightly")}


def change_page(client: Client, job: Job) -> RenderedForm:
    return RenderedForm(client, f"/admin/jobs/job/{job.pk}/change/", form_id="job_form")


def saved(response: Any) -> None:
    form = response.context["adminform"].form if response.status_code == 200 else None
    assert response.status_code == 302, (
        form.errors if form else response.status_code,
        form.non_field_errors() if form else "",
    )


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("kind", sorted(SCHEDULES))
def test_saving_an_unchanged_job_changes_nothing(staff_client: Client, user: Any, kind: str, action: str) -> None:
    job = factories.job(user, schedule=SCHEDULES[kind], action=ACTIONS[action]())
    before = Job.objects.filter(pk=job.pk).values().get()

    page = change_page(staff_client, job)
    assert "owner" not in page.fields  # shown as a link, never posted by a browser
    saved(page.submit())

    after = Job.objects.filter(pk=job.pk).values().get()
    changed = {key for key in before if before[key] != after[key]} - {"updated_at"}
    assert changed == set()
    assert after["http_headers"] == before["http_headers"]  # masked values kept


def test_changing_kind_zone_and_action_and_unticking_enabled(staff_client: Client, staff: Any, user: Any) -> None:
    job = factories.job(user, schedule=SCHEDULES["phrase"], action=http_action())

    page = change_page(staff_client, job)
    page.set("kind", "cron").set("cron", "0 7 * * *").set("timezone", "Asia/Tokyo")
    page.set("action_type", "task").set("task", "echo").set("task_kwargs", '{"a": 1}')
    page.untick("enabled")
    saved(page.submit())

    job.refresh_from_db()
    assert (job.schedule_kind, job.cron, job.timezone, job.phrase) == ("cron", "0 7 * * *", "Asia/Tokyo", "")
    assert (job.action_type, job.task_name, job.task_kwargs, job.http_headers) == ("task", "echo", {"a": 1}, {})
    assert not job.enabled
    assert JobEvent.objects.filter(job_ref=job.pk, kind=EventKind.PAUSED, actor=staff).exists()


def test_a_masked_header_is_kept_and_a_retyped_one_replaced(staff_client: Client, user: Any) -> None:
    job = factories.job(user, action=http_action(headers={"Authorization": SECRET, "X-Trace": "trace-1"}))

    page = change_page(staff_client, job)
    assert SECRET not in page["http_headers"]
    page.set("http_headers", page["http_headers"].replace("X-Trace: ••••", "X-Trace: trace-2"))
    saved(page.submit())

    job.refresh_from_db()
    assert job.http_headers == {"Authorization": SECRET, "X-Trace": "trace-2"}


def test_a_job_created_from_the_add_page(staff_client: Client, staff: Any) -> None:
    page = RenderedForm(staff_client, "/admin/jobs/job/add/", form_id="job_form")
    page.set("name", "from-the-page").set("phrase", "every day at 02:30").set("timezone", "Europe/Berlin")
    page.set("action_type", "task").set("task", "echo")
    saved(page.submit())

    job = Job.objects.get(name="from-the-page")
    assert (job.owner, job.cron, job.timezone) == (staff, "30 2 * * *", "Europe/Berlin")


@pytest.mark.parametrize("typed", ["200, abc", "abc", "99", "200, 7000", "2" * 40])
def test_a_bad_expected_status_is_a_field_error_and_nothing_typed_is_lost(staff_client: Client, typed: str) -> None:
    page = RenderedForm(staff_client, "/admin/jobs/job/add/", form_id="job_form")
    page.set("name", "typed").set("phrase", "every day at 02:30").set("action_type", "http")
    page.set("http_url", "http://reports.internal/run").set("http_expected_status", typed)

    response = page.submit()

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "http_expected_status" in form.errors
    assert form["http_expected_status"].value() == typed and form["name"].value() == "typed"
    assert not Job.objects.filter(name="typed").exists()
