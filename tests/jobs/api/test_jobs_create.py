"""POST /api/v1/jobs/"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from jobs.api.serializers import JobSerializer
from jobs.models import Job, JobEvent
from tests.factories import job_data, task_action
from tests.jobs.api.conftest import SECRET, assert_error, http_action

URL = "/api/v1/jobs/"


def test_create_with_phrase_returns_201_and_the_documented_representation(api, user):
    payload = {
        "name": "weekly-report",
        "description": "optional",
        "schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
        "action": http_action(),
        "enabled": True,
        "timeout_seconds": 60,
        "max_retries": 0,
        "retry_backoff_seconds": 10,
        "overlap_policy": "skip",
        "catchup_policy": "skip",
        "jitter_seconds": 0,
    }
    response = api.post(URL, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "owner",
        "schedule",
        "action",
        "enabled",
        "paused_reason",
        "next_run_at",
        "last_run_at",
        "last_status",
        "timeout_seconds",
        "max_retries",
        "retry_backoff_seconds",
        "overlap_policy",
        "catchup_policy",
        "jitter_seconds",
        "pause_after_failures",
        "alerts_enabled",
        "alert_channels",
        "alert_late_after_seconds",
        "created_at",
        "updated_at",
    }
    assert body["owner"] == "alice"
    assert body["name"] == "weekly-report"
    assert body["enabled"] is True
    assert body["last_run_at"] is None and body["last_status"] == ""
    schedule = body["schedule"]
    assert schedule["kind"] == "cron"
    assert schedule["cron"] == "0 9 * * 1"
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["phrase"] == "every monday at 09:00"
    assert schedule["human"] == "Every Monday at 09:00 (Europe/Berlin)"
    assert len(schedule["next_runs"]) == 5
    for text in schedule["next_runs"]:
        when = datetime.fromisoformat(text)
        assert when.weekday() == 0 and (when.hour, when.minute) == (9, 0)
        assert text.endswith(("+01:00", "+02:00"))  # the job's own offset, not UTC
    assert datetime.fromisoformat(body["next_run_at"]) == datetime.fromisoformat(schedule["next_runs"][0])
    assert body["action"] == {
        "type": "http",
        "method": "POST",
        "url": "http://reports.internal/run",
        "headers": {"Authorization": "••••", "X-Trace": "••••"},
        "body": "",
        "expected_status": [200, 202],
        "follow_redirects": False,
    }
    assert SECRET not in response.content.decode()
    job = Job.objects.get(pk=body["id"])
    assert job.owner == user
    assert job.http_headers["Authorization"] == SECRET


def test_only_name_schedule_and_action_are_required_and_policies_default(api):
    response = api.post(URL, job_data(name="minimal"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["description"] == ""
    assert body["enabled"] is True
    assert (body["timeout_seconds"], body["max_retries"], body["retry_backoff_seconds"]) == (60, 0, 10)
    assert (body["overlap_policy"], body["catchup_policy"], body["jitter_seconds"]) == ("skip", "skip", 0)
    assert body["pause_after_failures"] is None
    assert body["action"] == {"type": "task", "task": "echo", "args": [], "kwargs": {}}


@pytest.mark.parametrize(
    ("phrase", "normalized", "human"),
    [
        ("every monday at 09:00", {"kind": "cron", "cron": "0 9 * * 1"}, "Every Monday at 09:00 (UTC)"),
        ("every 15 minutes", {"kind": "cron", "cron": "*/15 * * * *"}, "Every 15 minutes (UTC)"),
        ("daily at 02:30", {"kind": "cron", "cron": "30 2 * * *"}, "Every day at 02:30 (UTC)"),
        ("weekdays at 9am", {"kind": "cron", "cron": "0 9 * * 1-5"}, "Every weekday at 09:00 (UTC)"),
        ("every hour", {"kind": "cron", "cron": "0 * * * *"}, "Every hour (UTC)"),
        (
            "every 1st of the month at 00:00",
            {"kind": "cron", "cron": "0 0 1 * *"},
            "Every 1st of the month at 00:00 (UTC)",
        ),
        (
            "on 2031-01-01 at 12:00",
            {"kind": "once", "at": "2031-01-01T12:00:00+00:00"},
            "Once on 2031-01-01 at 12:00 (UTC)",
        ),
    ],
)
def test_each_phrase_is_normalized_and_kept_next_to_its_fields(api, phrase, normalized, human):
    response = api.post(URL, job_data(schedule={"phrase": phrase}), format="json")

    assert response.status_code == 201, response.content
    schedule = response.json()["schedule"]
    assert {key: schedule[key] for key in normalized} == normalized
    assert schedule["phrase"] == phrase
    assert schedule["timezone"] == "UTC"
    assert schedule["human"] == human
    expected_runs = 1 if normalized["kind"] == "once" else 5
    assert len(schedule["next_runs"]) == expected_runs


def test_a_phrase_it_cannot_read_is_400_quoting_it_with_an_example(api):
    response = api.post(URL, job_data(schedule={"phrase": "every blue moon"}), format="json")

    error = assert_error(response, 400, "validation_error", "schedule.phrase")
    message = error["fields"]["schedule.phrase"][0]
    assert '"every blue moon"' in message
    assert "every monday at 09:00" in message
    assert not Job.objects.exists()


def test_once_phrase_uses_the_given_timezone(api):
    response = api.post(
        URL, job_data(schedule={"phrase": "on 2031-01-01 at 12:00", "timezone": "Europe/Berlin"}), format="json"
    )
    assert response.status_code == 201, response.content
    schedule = response.json()["schedule"]
    assert schedule["at"] == "2031-01-01T12:00:00+01:00"
    assert schedule["next_runs"] == ["2031-01-01T12:00:00+01:00"]


def test_a_timezone_in_any_case_is_stored_and_answered_as_its_iana_name(api):
    response = api.post(
        URL, job_data(schedule={"phrase": "every day at 06:00", "timezone": "europe/BERLIN"}), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["schedule"]["timezone"] == "Europe/Berlin"
    assert Job.objects.get().timezone == "Europe/Berlin"


def test_cron_interval_and_once_kinds_are_accepted(api):
    cron = api.post(
        URL, job_data(schedule={"kind": "cron", "cron": "*/5 * * * *", "timezone": "Asia/Tokyo"}), format="json"
    )
    interval = api.post(URL, job_data(schedule={"kind": "interval", "every": 2, "unit": "hours"}), format="json")
    once = api.post(URL, job_data(schedule={"kind": "once", "at": "2031-01-01T12:00:00+01:00"}), format="json")

    assert cron.status_code == 201, cron.content
    assert cron.json()["schedule"]["next_runs"][0].endswith("+09:00")
    assert interval.status_code == 201, interval.content
    assert interval.json()["schedule"]["human"].startswith("Every 2 hours, counted from ")
    assert once.status_code == 201, once.content
    assert once.json()["schedule"]["at"] == "2031-01-01T11:00:00+00:00"  # shown in the job's zone (UTC)
    assert "phrase" not in once.json()["schedule"]


def test_an_interval_is_anchored_at_creation_so_slots_do_not_drift(api, login, user):
    start = datetime(2030, 5, 1, 10, 0, 7, 250_000, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        client = login(user)
        # 7 minutes does not divide the hour, so it stays an interval (15 minutes would be cron).
        response = client.post(URL, job_data(schedule={"phrase": "every 7 minutes"}), format="json")
    assert response.status_code == 201, response.content
    schedule = response.json()["schedule"]
    assert schedule["anchor"] == "2030-05-01T10:00:07+00:00"  # whole seconds
    anchor = datetime(2030, 5, 1, 10, 0, 7, tzinfo=UTC)
    assert schedule["next_runs"] == [(anchor + k * timedelta(minutes=7)).isoformat() for k in range(1, 6)]

    # Half an hour later the slots are still anchor + k * 7 min.
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        client = login(user)
        later = client.get(f"{URL}{response.json()['id']}/").json()["schedule"]
    assert later["next_runs"][0] == "2030-05-01T10:35:07+00:00"


@pytest.mark.parametrize(
    ("schedule", "field", "fragment"),
    [
        ({"kind": "cron", "cron": "61 * * * *"}, "schedule.cron", "0-59"),
        ({"kind": "cron", "cron": "0 9 * *"}, "schedule.cron", "5"),
        ({"kind": "cron", "cron": "0 9 * * 1", "timezone": "Mars/Olympus"}, "schedule.timezone", "Mars/Olympus"),
        ({"kind": "once", "at": "2001-01-01T00:00:00+00:00"}, "schedule.at", "future"),
        ({"kind": "interval", "every": 5, "unit": "seconds"}, "schedule.every", "10"),
        ({"kind": "interval", "every": 5, "unit": "weeks"}, "schedule.unit", "seconds"),
        ({"kind": "weekly"}, "schedule.kind", "interval"),
        ({}, "schedule.kind", "phrase"),
    ],
)
def test_invalid_schedules_are_400_naming_the_field_and_allowed_range(api, schedule, field, fragment):
    response = api.post(URL, job_data(schedule=schedule), format="json")
    error = assert_error(response, 400, "validation_error", field)
    assert fragment in " ".join(error["fields"][field])


def test_schedule_must_be_an_object(api):
    assert_error(api.post(URL, job_data(schedule="every hour"), format="json"), 400, field="schedule")


def test_unknown_top_level_field_is_400(api):
    response = api.post(URL, job_data(colour="blue"), format="json")
    error = assert_error(response, 400, "validation_error", "colour")
    assert error["fields"]["colour"] == ["Unknown field."]
    assert not Job.objects.exists()


def test_unknown_field_inside_schedule_or_action_is_400(api):
    bad_schedule = api.post(URL, job_data(schedule={"phrase": "every hour", "often": True}), format="json")
    bad_action = api.post(URL, job_data(action={**task_action(), "queue": "fast"}), format="json")
    assert_error(bad_schedule, 400, field="schedule.often")
    assert_error(bad_action, 400, field="action.queue")


def test_read_only_fields_are_ignored_on_create(api, bob):
    payload = job_data(
        id="00000000-0000-0000-0000-000000000001",
        owner="bob",
        next_run_at="2000-01-01T00:00:00Z",
        last_status="failed",
        created_at="2000-01-01T00:00:00Z",
        schedule={"phrase": "every hour", "human": "whatever", "next_runs": ["x"], "anchor": "y"},
    )
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != payload["id"]
    assert body["owner"] == "alice"
    assert body["last_status"] == ""
    assert body["schedule"]["human"] == "Every hour (UTC)"


def test_missing_required_fields_are_each_reported(api):
    error = assert_error(api.post(URL, {}, format="json"), 400, "validation_error")
    assert {"name", "schedule", "action"} <= set(error["fields"])


def test_body_that_is_not_an_object_is_400(api):
    assert_error(api.post(URL, [1, 2], format="json"), 400, "validation_error")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": "60"}, "timeout_seconds"),
        ({"max_retries": 11}, "max_retries"),
        ({"jitter_seconds": -1}, "jitter_seconds"),
        ({"overlap_policy": "queue"}, "overlap_policy"),
        ({"catchup_policy": "all"}, "catchup_policy"),
        ({"enabled": "yes"}, "enabled"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"action": {"type": "ftp"}}, "action.type"),
        ({"action": {"type": {"http": 1}}}, "action.type"),
        ({"action": {"type": ["task"]}}, "action.type"),
        ({"action": {"type": 1}}, "action.type"),
        ({"action": {"type": None}}, "action.type"),
        ({"action": http_action(method={"GET": 1})}, "action.method"),
        ({"action": {"type": "task", "task": ["echo"]}}, "action.task"),
        ({"name": None}, "name"),
        ({"description": 5}, "description"),
        ({"enabled": None}, "enabled"),
        ({"timeout_seconds": None}, "timeout_seconds"),
        ({"overlap_policy": None}, "overlap_policy"),
        ({"overlap_policy": ["skip"]}, "overlap_policy"),
        ({"schedule": None}, "schedule"),
        ({"action": None}, "action"),
        ({"action": http_action(url="not a url")}, "action.url"),
        ({"action": http_action(url="http://[::1/")}, "action.url"),
        ({"action": http_action(url="http://example.com:99999/")}, "action.url"),
        ({"action": http_action(url=5)}, "action.url"),
        ({"action": http_action(method="FETCH")}, "action.method"),
        ({"action": http_action(expected_status=[99])}, "action.expected_status"),
        ({"action": http_action(headers={"Bad Header": "x"})}, "action.headers.Bad Header"),
        ({"action": {"type": "task", "task": "no-such-task"}}, "action.task"),
    ],
)
def test_invalid_values_are_400_keyed_by_field(api, overrides, field):
    assert_error(api.post(URL, job_data(**overrides), format="json"), 400, "validation_error", field)


def test_a_null_description_is_stored_empty_as_the_schema_says(api):
    response = api.post(URL, job_data(description=None), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["description"] == ""


def test_system_only_task_is_400_for_users_and_allowed_for_staff(api, staff, login):
    action = {"type": "task", "task": "cleanup_runs", "kwargs": {}}
    error = assert_error(api.post(URL, job_data(action=action), format="json"), 400, field="action.task")
    assert "staff" in error["fields"]["action.task"][0]

    response = login(staff).post(URL, job_data(action=action), format="json")
    assert response.status_code == 201, response.content


def test_duplicate_name_is_409(api, make_job, user):
    make_job(user, name="nightly")
    response = api.post(URL, job_data(name="nightly"), format="json")
    error = assert_error(response, 409, "duplicate_name")
    assert "nightly" in error["message"]
    assert Job.objects.filter(name="nightly").count() == 1


def test_same_name_for_another_user_is_fine(api, make_job, bob):
    make_job(bob, name="nightly")
    assert api.post(URL, job_data(name="nightly"), format="json").status_code == 201


def test_new_header_without_a_value_is_400(api):
    response = api.post(URL, job_data(action=http_action(headers={"Authorization": "••••"})), format="json")
    assert_error(response, 400, field="action.headers.Authorization")


def test_create_records_a_created_event(api):
    body = api.post(URL, job_data(), format="json").json()
    event = JobEvent.objects.get(job_ref=body["id"])
    assert (event.kind, event.actor_name) == ("created", "alice")


def test_anonymous_create_is_401(anon):
    assert_error(anon.post(URL, job_data(), format="json"), 401, "not_authenticated")
    assert not Job.objects.exists()


# --- hostile input: huge, nested, too many (issue 15) ----------------------------------


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (http_action(headers={f"X-H{i}": "v" for i in range(10_000)}), "action.headers"),
        (http_action(headers={"X-Big": "v" * (8 * 1024 + 1)}), "action.headers.X-Big"),
        (http_action(headers={"X-" + "n" * 300: "v"}), "action.headers." + "X-" + "n" * 254),
        (http_action(body="b" * (64 * 1024 + 1)), "action.body"),
        (task_action(blob="k" * (64 * 1024)), "action.kwargs"),
        (task_action(**{f"k{i}": i for i in range(8_000)}), "action.kwargs"),
    ],
    ids=["10000-headers", "huge-header-value", "huge-header-name", "huge-body", "huge-kwargs", "8000-keys"],
)
def test_an_action_larger_than_its_bounds_is_a_400_and_nothing_is_saved(api, action, field):
    response = api.post(URL, job_data(action=action), format="json")

    assert_error(response, 400, "validation_error", field)
    assert not Job.objects.exists()


def test_an_action_at_its_bounds_is_accepted(api):
    headers = {f"X-H{i}": "v" for i in range(50)}
    assert (
        api.post(URL, job_data(action=http_action(headers=headers, body="b" * 60_000)), format="json").status_code
        == 201
    )
    assert api.post(URL, job_data(action=task_action(blob="k" * 60_000)), format="json").status_code == 201


@pytest.mark.parametrize(
    "schedule",
    [
        {"phrase": "every 1000000 days"},
        {"kind": "interval", "every": 2**62, "unit": "seconds"},
        {"phrase": "on 9999-12-31 at 23:59", "timezone": "America/New_York"},
    ],
)
def test_a_schedule_beyond_the_computable_range_is_a_400_and_nothing_is_saved(api, schedule):
    response = api.post(URL, job_data(schedule=schedule), format="json")

    assert response.status_code == 400, response.content
    assert next(iter(response.json()["error"]["fields"])).startswith("schedule")
    assert not Job.objects.exists()


def test_a_create_past_the_per_user_limit_is_a_409(api, user, settings, make_user, login):
    settings.JOBS_MAX_PER_USER = 2
    assert [api.post(URL, job_data(), format="json").status_code for _ in range(2)] == [201, 201]

    error = assert_error(api.post(URL, job_data(), format="json"), 409, "job_limit_reached")

    assert "2 jobs" in error["message"]
    assert Job.objects.filter(owner=user).count() == 2
    assert login(make_user()).post(URL, job_data(), format="json").status_code == 201


def test_a_tasks_null_args_and_kwargs_are_empty_as_the_schema_says(api):
    response = api.post(
        URL, job_data(action={"type": "task", "task": "echo", "args": None, "kwargs": None}), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["action"]["args"] == [] and response.json()["action"]["kwargs"] == {}


@pytest.mark.parametrize("method", ["create", "update", "pause"])
def test_a_write_whose_answer_cannot_be_built_leaves_nothing_written(api, user, make_job, monkeypatch, method):
    job = make_job(user, name="untouched")
    before = JobEvent.objects.count()

    def broken(self, instance):
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr(JobSerializer, "to_representation", broken)
    if method == "create":
        response = api.post(URL, job_data(name="never"), format="json")
    elif method == "update":
        response = api.patch(f"{URL}{job.pk}/", {"name": "renamed"}, format="json")
    else:
        response = api.post(f"{URL}{job.pk}/pause/")
    assert_error(response, 500, "server_error")
    assert not Job.objects.filter(name="never").exists()
    job.refresh_from_db()
    assert (job.name, job.enabled) == ("untouched", True)
    assert JobEvent.objects.count() == before  # no audit event for a write that did not happen
