"""The job form: a phrase or a kind's own fields in, the service's wire format out, the API's messages back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from jobs.models import EventKind, Job, JobEvent

from .conftest import SECRET, http_action


def form_data(owner: Any, **overrides: Any) -> dict[str, Any]:
    """What the add form posts when only the phrase fields and a task action are filled in."""
    data = {
        "name": "nightly-report",
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
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "expected the form again, with errors"
    return dict(response.context["adminform"].form.errors)


def test_add_page_offers_kinds_phrase_and_timezone_picker(staff_client: Client) -> None:
    html = staff_client.get("/admin/jobs/job/add/").content.decode()
    for kind in ("phrase", "interval", "cron", "once"):
        assert f'value="{kind}"' in html
    assert 'list="timezone-choices"' in html
    assert '<option value="Europe/Berlin">' in html
    assert 'id="schedule-preview"' in html
    assert "jobs/job_form.js" in html


def test_create_from_a_phrase(staff_client: Client, staff: Any, user: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(user))
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert job.owner == user
    assert (job.schedule_kind, job.cron, job.timezone, job.phrase) == (
        "cron",
        "0 9 * * 1",
        "Europe/Berlin",
        "every monday at 09:00",
    )
    assert (job.task_name, job.task_kwargs) == ("echo", {"report": "nightly"})
    assert job.next_run_at is not None
    created = JobEvent.objects.get(job_ref=job.pk, kind=EventKind.CREATED)
    assert created.actor == staff  # the service recorded who did it


def test_create_from_cron_fields(staff_client: Client, user: Any) -> None:
    data = form_data(user, kind="cron", phrase="ignored because the kind is cron", cron="*/15 8-17 * * 1-5")
    response = staff_client.post("/admin/jobs/job/add/", data)
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert (job.schedule_kind, job.cron, job.phrase) == ("cron", "*/15 8-17 * * 1-5", "")


def test_create_from_interval_fields(staff_client: Client, user: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(user, kind="interval", every="15", unit="minutes"))
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert (job.schedule_kind, job.interval_every, job.interval_unit) == ("interval", 15, "minutes")


def test_create_once_reads_the_time_in_the_chosen_zone(staff_client: Client, user: Any) -> None:
    data = form_data(user, kind="once", at="2031-07-01T09:30", timezone="Europe/Berlin")
    response = staff_client.post("/admin/jobs/job/add/", data)
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert job.schedule_kind == "once"
    assert job.once_at.isoformat().startswith("2031-07-01T07:30")  # 09:30 CEST is 07:30 UTC


def test_a_zone_typed_in_lower_case_is_the_zone_the_time_is_read_in(staff_client: Client, user: Any) -> None:
    data = form_data(user, kind="once", at="2031-07-01T09:30", timezone="europe/berlin")
    response = staff_client.post("/admin/jobs/job/add/", data)
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert job.timezone == "Europe/Berlin"
    assert job.once_at.isoformat().startswith("2031-07-01T07:30")  # not 09:30 UTC


def test_create_an_http_job(staff_client: Client, user: Any) -> None:
    data = form_data(
        user,
        action_type="http",
        http_method="POST",
        http_url="https://example.com/hook",
        http_headers=f"Authorization: {SECRET}\nX-Trace: abc",
        http_expected_status="200, 204",
    )
    response = staff_client.post("/admin/jobs/job/add/", data)
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert job.http_headers == {"Authorization": SECRET, "X-Trace": "abc"}
    assert job.http_expected_status == [200, 204]


def _api_errors(login: Any, user: Any, schedule: dict[str, Any]) -> dict[str, list[str]]:
    body = {"name": "api-twin", "schedule": schedule, "action": {"type": "task", "task": "echo"}}
    response = login(user).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


def test_invalid_cron_shows_the_apis_message(staff_client: Client, staff: Any, login: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(staff, kind="cron", cron="61 * * * *"))
    api = _api_errors(login, staff, {"kind": "cron", "cron": "61 * * * *", "timezone": "Europe/Berlin"})
    assert errors_of(response)["cron"] == api["schedule.cron"]
    assert not Job.objects.exists()


def test_unknown_timezone_shows_the_apis_message(staff_client: Client, staff: Any, login: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(staff, timezone="Mars/Olympus_Mons"))
    api = _api_errors(login, staff, {"phrase": "every monday at 09:00", "timezone": "Mars/Olympus_Mons"})
    assert errors_of(response)["timezone"] == api["schedule.timezone"]
    assert escape('Unknown time zone "Mars/Olympus_Mons"') in response.content.decode()


def test_unreadable_phrase_shows_the_apis_message(staff_client: Client, staff: Any, login: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(staff, phrase="now and then"))
    api = _api_errors(login, staff, {"phrase": "now and then", "timezone": "Europe/Berlin"})
    assert errors_of(response)["phrase"] == api["schedule.phrase"]


def test_interval_below_the_minimum_is_reported_on_every(staff_client: Client, staff: Any) -> None:
    response = staff_client.post("/admin/jobs/job/add/", form_data(staff, kind="interval", every="1", unit="seconds"))
    assert "every" in errors_of(response)


def test_action_errors_land_on_their_inputs(staff_client: Client, staff: Any) -> None:
    data = form_data(
        staff,
        action_type="http",
        http_url="ftp://nope",
        http_headers="Bad Header: x",
        http_expected_status="abc",
        timeout_seconds="0",
    )
    errors = errors_of(staff_client.post("/admin/jobs/job/add/", data))
    assert errors["http_url"] == ['This URL is not allowed: the scheme is "ftp"; only http and https are allowed.']
    assert errors["http_headers"] == ["Bad Header: Not a valid header name."]
    assert errors["http_expected_status"][0].startswith("Must be a list of HTTP status codes")
    assert errors["timeout_seconds"] == ["Must be a whole number from 1 to 86400."]


def test_unknown_task_and_bad_json(staff_client: Client, staff: Any) -> None:
    errors = errors_of(staff_client.post("/admin/jobs/job/add/", form_data(staff, task="nope", task_args="[1,")))
    assert errors["task_args"][0].startswith("Not valid JSON")
    response = staff_client.post("/admin/jobs/job/add/", form_data(staff, task="nope"))
    assert errors_of(response)["task"][0].startswith('Unknown task "nope"')


def test_duplicate_name_is_reported_on_name(staff_client: Client, user: Any, make_job: Any) -> None:
    make_job(user, name="nightly-report")
    errors = errors_of(staff_client.post("/admin/jobs/job/add/", form_data(user)))
    assert errors["name"] == ['You already have a job named "nightly-report".']


@pytest.fixture
def http_job(make_job: Any, user: Any) -> Job:
    return make_job(user, name="hook", action=http_action())


def test_the_empty_add_form_opens_without_an_error_and_explains_every_policy(staff_client: Client) -> None:
    response = staff_client.get("/admin/jobs/job/add/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "errorlist" not in html and "Please correct" not in html
    form = response.context["adminform"].form
    policies = (
        "timeout_seconds",
        "max_retries",
        "retry_backoff_seconds",
        "overlap_policy",
        "catchup_policy",
        "jitter_seconds",
        "pause_after_failures",
    )
    for name in policies:
        assert form.fields[name].help_text, name
        assert str(form.fields[name].help_text)[:30] in html


def test_change_page_masks_header_values(staff_client: Client, http_job: Job) -> None:
    html = staff_client.get(f"/admin/jobs/job/{http_job.pk}/change/").content.decode()
    assert SECRET not in html
    assert "s3cr3t" not in html
    assert "Authorization: ••••" in html


def test_editing_keeps_a_masked_header_and_records_the_change(staff_client: Client, staff: Any, http_job: Job) -> None:
    form = staff_client.get(f"/admin/jobs/job/{http_job.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update(kind="cron", cron="30 6 * * *", enabled="on")
    data = {key: ("" if value is None else value) for key, value in data.items() if value is not False}
    response = staff_client.post(f"/admin/jobs/job/{http_job.pk}/change/", data)
    assert response.status_code == 302, errors_of(response)
    http_job.refresh_from_db()
    assert http_job.cron == "30 6 * * *"
    assert http_job.http_headers == {"Authorization": SECRET}
    updated = JobEvent.objects.get(job_ref=http_job.pk, kind=EventKind.UPDATED)
    assert updated.actor == staff
    assert updated.changes["cron"] == {"old": "0 9 * * 1", "new": "30 6 * * *"}


def test_saving_unticked_enabled_pauses_through_the_service(staff_client: Client, staff: Any, http_job: Job) -> None:
    form = staff_client.get(f"/admin/jobs/job/{http_job.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {key: ("" if value is None else value) for key, value in data.items() if key != "enabled"}
    response = staff_client.post(f"/admin/jobs/job/{http_job.pk}/change/", data)
    assert response.status_code == 302, errors_of(response)
    http_job.refresh_from_db()
    assert not http_job.enabled
    assert JobEvent.objects.filter(job_ref=http_job.pk, kind=EventKind.PAUSED, actor=staff).exists()


def test_a_zone_in_the_phrase_wins_over_the_zone_field_left_as_it_was(staff_client: Client, user: Any) -> None:
    # The add page offers "UTC" in the zone field; a phrase naming its own zone is read in that zone.
    phrase = "every monday at 09:00 Europe/Berlin"
    response = staff_client.post("/admin/jobs/job/add/", form_data(user, phrase=phrase, timezone="UTC"))
    assert response.status_code == 302, errors_of(response)
    job = Job.objects.get(name="nightly-report")
    assert (job.cron, job.timezone) == ("0 9 * * 1", "Europe/Berlin")


def test_a_zone_field_changed_to_another_zone_than_the_phrases_is_an_error(staff_client: Client, user: Any) -> None:
    phrase = "every monday at 09:00 Europe/Berlin"
    errors = errors_of(staff_client.post("/admin/jobs/job/add/", form_data(user, phrase=phrase, timezone="Asia/Tokyo")))
    assert any('"Europe/Berlin"' in message and '"Asia/Tokyo"' in message for message in errors["phrase"])
    assert not Job.objects.filter(name="nightly-report").exists()
