"""PUT and PATCH /api/v1/jobs/{id}/"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from jobs.models import EventKind, Job, JobEvent
from tests.factories import job_data
from tests.jobs.api.conftest import SECRET, assert_error, http_action


def url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/"


def test_patch_changes_only_what_is_sent(api, make_job, user):
    job = make_job(user, name="old", description="keep me", timeout_seconds=30)

    response = api.patch(url(job), {"name": "new"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["timeout_seconds"]) == ("new", "keep me", 30)
    job.refresh_from_db()
    assert job.name == "new"


def test_patch_schedule_recomputes_next_run(api, make_job, user):
    job = make_job(user, schedule={"kind": "cron", "cron": "0 0 1 1 *"})
    body = api.patch(url(job), {"schedule": {"phrase": "every hour"}}, format="json").json()
    assert body["schedule"]["cron"] == "0 * * * *"
    assert body["schedule"]["phrase"] == "every hour"
    assert body["next_run_at"] == body["schedule"]["next_runs"][0].replace("+00:00", "Z")


def test_put_of_what_get_returned_is_accepted_and_changes_nothing(api, make_job, user):
    job = make_job(user, action=http_action(), schedule={"phrase": "every 7 minutes", "timezone": "Europe/Berlin"})
    shown = api.get(url(job)).json()

    response = api.put(url(job), shown, format="json")

    assert response.status_code == 200, response.content
    again = response.json()
    assert again["schedule"]["anchor"] == shown["schedule"]["anchor"]  # slots did not move
    assert again["schedule"]["next_runs"] == shown["schedule"]["next_runs"]
    stored = Job.objects.get(pk=job.pk)
    assert stored.http_headers == {"Authorization": SECRET, "X-Trace": "trace-value-1"}
    assert not JobEvent.objects.filter(job_ref=job.pk, kind=EventKind.UPDATED).exists()


def test_a_relative_one_off_is_saved_as_its_instant_and_a_put_of_it_changes_nothing(api, make_job, user):
    job = make_job(user, action=http_action(), schedule={"phrase": "tomorrow at 10am", "timezone": "Europe/Berlin"})
    shown = api.get(url(job)).json()
    assert "phrase" not in shown["schedule"]  # "tomorrow" read again later would be another day
    assert shown["schedule"]["kind"] == "once" and shown["schedule"]["at"].endswith("T10:00:00+01:00")

    response = api.put(url(job), shown, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["schedule"]["at"] == shown["schedule"]["at"]
    assert not JobEvent.objects.filter(job_ref=job.pk, kind=EventKind.UPDATED).exists()


def test_put_resets_omitted_optional_fields_to_defaults(api, make_job, user):
    job = make_job(user, description="text", max_retries=3, jitter_seconds=30)
    response = api.put(url(job), job_data(name=job.name), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["description"], body["max_retries"], body["jitter_seconds"]) == ("", 0, 0)


def test_put_requires_name_schedule_and_action(api, make_job, user):
    job = make_job(user)
    error = assert_error(api.put(url(job), {"description": "x"}, format="json"), 400, "validation_error")
    assert {"name", "schedule", "action"} <= set(error["fields"])


def test_unknown_field_is_400_and_nothing_changes(api, make_job, user):
    job = make_job(user, name="same")
    assert_error(api.patch(url(job), {"name": "new", "colour": "red"}, format="json"), 400, field="colour")
    job.refresh_from_db()
    assert job.name == "same"


def test_read_only_fields_sent_are_ignored(api, make_job, user):
    job = make_job(user)
    response = api.patch(
        url(job),
        {"owner": "bob", "last_status": "failed", "next_run_at": None, "id": "x", "max_retries": 2},
        format="json",
    )
    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert (job.owner.username, job.last_status, job.max_retries) == ("alice", "", 2)
    assert job.next_run_at is not None


def test_invalid_value_is_400_keyed_by_field(api, make_job, user):
    job = make_job(user)
    assert_error(
        api.patch(url(job), {"schedule": {"kind": "cron", "cron": "0 25 * * *"}}, format="json"),
        400,
        field="schedule.cron",
    )
    assert_error(api.patch(url(job), {"max_retries": 99}, format="json"), 400, field="max_retries")


def test_omitted_or_masked_header_value_keeps_the_stored_secret(api, make_job, user):
    job = make_job(user, action=http_action())
    action = http_action(headers={"Authorization": "••••", "X-Trace": "", "X-New": "fresh"})

    response = api.patch(url(job), {"action": action}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["action"]["headers"] == {"Authorization": "••••", "X-Trace": "••••", "X-New": "••••"}
    job.refresh_from_db()
    assert job.http_headers == {"Authorization": SECRET, "X-Trace": "trace-value-1", "X-New": "fresh"}


def test_header_value_can_be_replaced_and_headers_removed(api, make_job, user):
    job = make_job(user, action=http_action())
    action = http_action(headers={"Authorization": "Bearer rotated"})
    assert api.patch(url(job), {"action": action}, format="json").status_code == 200
    job.refresh_from_db()
    assert job.http_headers == {"Authorization": "Bearer rotated"}


def test_rename_to_an_existing_name_is_409(api, make_job, user):
    make_job(user, name="taken")
    job = make_job(user, name="free")
    assert_error(api.patch(url(job), {"name": "taken"}, format="json"), 409, "duplicate_name")


def test_changing_an_interval_reanchors_it_and_an_unchanged_one_keeps_its_anchor(api, make_job, user, login):
    start = datetime(2030, 5, 1, 10, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        job = make_job(user, schedule={"kind": "interval", "every": 10, "unit": "minutes"})
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        client = login(user)
        same = client.patch(url(job), {"schedule": {"kind": "interval", "every": 10, "unit": "minutes"}}, format="json")
        assert same.json()["schedule"]["anchor"] == "2030-05-01T10:00:00+00:00"
        changed = client.patch(
            url(job), {"schedule": {"kind": "interval", "every": 5, "unit": "minutes"}}, format="json"
        )
        assert changed.json()["schedule"]["anchor"] == "2030-05-01T10:03:00+00:00"
        assert changed.json()["schedule"]["next_runs"][0] == "2030-05-01T10:08:00+00:00"


def test_patch_enabled_false_pauses_and_true_resumes(api, make_job, user):
    job = make_job(user)
    assert api.patch(url(job), {"enabled": False}, format="json").json()["next_run_at"] is None
    body = api.patch(url(job), {"enabled": True}, format="json").json()
    assert body["enabled"] is True and body["next_run_at"] is not None


def test_another_users_job_is_404_and_unchanged(api, make_job, bob):
    job = make_job(bob, name="theirs")
    assert_error(api.patch(url(job), {"name": "hijacked"}, format="json"), 404, "not_found")
    assert_error(api.put(url(job), job_data(name="hijacked"), format="json"), 404, "not_found")
    job.refresh_from_db()
    assert job.name == "theirs"


def test_staff_can_update_any_users_job(login, staff, make_job, bob):
    job = make_job(bob)
    response = login(staff).patch(url(job), {"description": "by staff"}, format="json")
    assert response.status_code == 200
    assert response.json()["owner"] == "bob"
    assert JobEvent.objects.get(job_ref=job.pk, kind="updated").actor_name == "root"


def test_anonymous_is_401(anon, make_job, user):
    assert_error(anon.patch(url(make_job(user)), {"name": "x"}, format="json"), 401, "not_authenticated")


def test_fields_sent_back_with_a_phrase_must_agree_with_it(api, make_job, user):
    job = make_job(user, schedule={"phrase": "every monday at 09:00"})
    shown = api.get(url(job)).json()
    shown["schedule"]["cron"] = "0 10 * * 1"  # edited, but the old phrase was left in

    error = assert_error(api.put(url(job), shown, format="json"), 400, "validation_error", "schedule.cron")
    assert "every monday at 09:00" in error["fields"]["schedule.cron"][0]

    del shown["schedule"]["phrase"]
    response = api.put(url(job), shown, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["schedule"]["cron"] == "0 10 * * 1"
    assert "phrase" not in response.json()["schedule"]
