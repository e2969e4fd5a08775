"""The job pages' forms, submitted as the rendered page has them (issue 14's first defect).

Every test here loads the add or change page, fills only controls the page
shows, and posts the page's own controls (`tests.jobs.admin.rendered`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.forms import RadioSelect, Select
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


HUGE = "9" * 300_000
# Per field of the add page, what a careless or hostile operator may type (empty, wrong type, huge, mixed
# valid and invalid lists, other scripts' digits, NUL). Each must end as a saved job or a field error that
# shows the page again with the typed value, never a 500.
HOSTILE = {
    "name": ["", " ", HUGE, "a\x00b", "<script>alert(1)</script>"],
    "description": [HUGE, "\x00"],
    "kind": ["", "bogus", "interval"],
    "phrase": ["", HUGE, "every ² minutes", "every 99999999999999999999 days", "on 9999-12-31 at 23:59"],
    "timezone": ["", "Mars/Base", HUGE, "../../etc/passwd"],
    "action_type": ["", "bogus"],
    "http_method": ["", "BREW"],
    "http_url": ["", "not a url", "ftp://example.com/", "http://" + "a" * 3000 + ".com/"],
    "http_headers": ["no colon", ": empty name", "X-A: 1\nX-A: 2", "X-Ünicode: é", "X-Long: " + HUGE],
    "http_body": [HUGE],
    "http_expected_status": ["200, abc", "", "1e3", "200,,300", "-200"],
    "task": ["", "no-such-task", "cleanup_runs"],
    "task_args": ["", "[1, 'a']", "{}", "[" * 5000, HUGE],
    "task_kwargs": ["", "[]", '{"a":', '{"a": NaN}', "{" * 5000],
    "timeout_seconds": ["", "-1", "0", "abc", "1e309", "\uff11\uff12", HUGE],  # fullwidth 12
    "max_retries": ["", "-1", "abc", "99999999999"],
    "retry_backoff_seconds": ["-5", "abc", HUGE],
    "overlap_policy": ["", "bogus"],
    "catchup_policy": ["", "bogus"],
    "jitter_seconds": ["-1", "abc", "99999999999"],
    "pause_after_failures": ["0", "-1", "abc", HUGE],
    "owner": ["", "not-a-uuid", "00000000-0000-4000-8000-000000000000"],
}
HTTP_FIELDS = {"http_method", "http_url", "http_headers", "http_body", "http_expected_status"}


@pytest.mark.parametrize("which", ["add", "change"])
@pytest.mark.parametrize(
    ("field", "typed"),
    [(field, value) for field, values in HOSTILE.items() for value in values],
    ids=lambda value: value if len(str(value)) < 30 else f"{str(value)[:12]}...({len(str(value))})",
)
def test_hostile_input_in_any_field_is_a_field_error_or_a_saved_job_never_a_500(
    staff_client: Client, user: Any, field: str, typed: str, which: str
) -> None:
    if which == "add":
        page = RenderedForm(staff_client, "/admin/jobs/job/add/", form_id="job_form")
    else:
        if field == "owner":
            pytest.skip("the change page shows the owner as a link, not a control")
        job = factories.job(user, name="existing", action=http_action() if field in HTTP_FIELDS else None)
        page = change_page(staff_client, job)
    page.set("name", "hostile").set("phrase", "every day at 02:30").set("timezone", "UTC")
    if field in HTTP_FIELDS:
        page.set("action_type", "http").set("http_url", "https://reports.example.com/run")
    else:
        page.set("action_type", "task").set("task", "echo")
    page.set(field, typed)

    response = page.submit()

    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        return  # accepted: a valid value after all
    form = response.context["adminform"].form
    assert form.errors, "shown again without saying why"
    if field in form.fields and not isinstance(form.fields[field].widget, (Select, RadioSelect)):
        assert form[field].value() == typed, "what was typed is lost"
    assert not Job.objects.filter(name="hostile").exists() or field == "name"
