"""POST /api/v1/schedules/preview/"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import time_machine

from jobs.models import Job
from tests.jobs.api.conftest import assert_error

URL = "/api/v1/schedules/preview/"


def preview_at(login, user, when: datetime, payload: dict) -> list[str]:
    """Preview with the clock pinned at `when` (the token is minted at that time too)."""
    with time_machine.travel(when, tick=False):
        response = login(user).post(URL, payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()["schedule"]["next_runs"]


def test_preview_returns_the_schedule_object_with_five_runs_by_default(api):
    response = api.post(
        URL, {"schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"}}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"schedule"}
    schedule = body["schedule"]
    assert {key: schedule[key] for key in ("kind", "cron", "timezone", "phrase", "human")} == {
        "kind": "cron",
        "cron": "0 9 * * 1",
        "timezone": "Europe/Berlin",
        "phrase": "every monday at 09:00",
        "human": "Every Monday at 09:00 (Europe/Berlin)",
    }
    assert len(schedule["next_runs"]) == 5


def test_preview_saves_nothing(api):
    api.post(URL, {"schedule": {"phrase": "every hour"}}, format="json")
    assert not Job.objects.exists()


@pytest.mark.parametrize("count", [1, 17, 50])
def test_count_sets_how_many_runs(api, count):
    response = api.post(URL, {"schedule": {"phrase": "every hour"}, "count": count}, format="json")
    assert len(response.json()["schedule"]["next_runs"]) == count


@pytest.mark.parametrize("count", [0, 51, -1, "many", None, True])
def test_count_outside_1_to_50_is_400(api, count):
    response = api.post(URL, {"schedule": {"phrase": "every hour"}, "count": count}, format="json")
    assert_error(response, 400, "validation_error", "count")


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("every monday at 09:00", {"kind": "cron", "cron": "0 9 * * 1"}),
        ("every 15 minutes", {"kind": "cron", "cron": "*/15 * * * *"}),
        ("every 7 minutes", {"kind": "interval", "every": 7, "unit": "minutes"}),
        ("daily at 02:30", {"kind": "cron", "cron": "30 2 * * *"}),
        ("weekdays at 9am", {"kind": "cron", "cron": "0 9 * * 1-5"}),
        ("every hour", {"kind": "cron", "cron": "0 * * * *"}),
        ("every 1st of the month at 00:00", {"kind": "cron", "cron": "0 0 1 * *"}),
        ("on 2031-01-01 at 12:00", {"kind": "once", "at": "2031-01-01T12:00:00+00:00"}),
    ],
)
def test_each_phrase_previews(api, phrase, expected):
    schedule = api.post(URL, {"schedule": {"phrase": phrase}}, format="json").json()["schedule"]
    assert {key: schedule[key] for key in expected} == expected
    assert schedule["phrase"] == phrase


def test_bad_phrase_is_400_quoting_it_with_an_example(api):
    response = api.post(URL, {"schedule": {"phrase": "at teatime"}}, format="json")
    error = assert_error(response, 400, "validation_error", "schedule.phrase")
    assert '"at teatime"' in error["fields"]["schedule.phrase"][0]
    assert "every monday at 09:00" in error["fields"]["schedule.phrase"][0]


def test_invalid_schedule_fields_are_400(api):
    response = api.post(URL, {"schedule": {"kind": "cron", "cron": "0 0 32 * *"}}, format="json")
    error = assert_error(response, 400, "validation_error", "schedule.cron")
    assert "1-31" in error["fields"]["schedule.cron"][0]


def test_missing_schedule_unknown_fields_and_non_objects_are_400(api):
    assert_error(api.post(URL, {}, format="json"), 400, field="schedule")
    assert_error(api.post(URL, {"schedule": {"phrase": "every hour"}, "n": 3}, format="json"), 400, field="n")
    assert_error(api.post(URL, {"schedule": {"phrase": "every hour", "x": 1}}, format="json"), 400, field="schedule.x")
    assert_error(api.post(URL, {"schedule": "every hour"}, format="json"), 400, field="schedule")
    assert_error(api.post(URL, ["x"], format="json"), 400)


def test_read_only_schedule_keys_are_ignored(api):
    sent = {"phrase": "every hour", "human": "never", "next_runs": [], "anchor": "2000-01-01T00:00:00Z"}
    schedule = api.post(URL, {"schedule": sent}, format="json").json()["schedule"]
    assert schedule["human"] == "Every hour (UTC)" and len(schedule["next_runs"]) == 5


def test_fixed_time_cron_skipped_by_spring_forward_fires_once_after_the_gap(login, user):
    runs = preview_at(
        login,
        user,
        datetime(2025, 3, 29, 12, 0, tzinfo=UTC),
        {"schedule": {"kind": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}, "count": 3},
    )
    assert runs == ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"]


def test_fixed_time_cron_repeated_by_fall_back_fires_at_the_first_occurrence(login, user):
    runs = preview_at(
        login,
        user,
        datetime(2025, 10, 25, 12, 0, tzinfo=UTC),
        {"schedule": {"phrase": "daily at 02:30", "timezone": "Europe/Berlin"}, "count": 2},
    )
    assert runs == ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]


def test_new_york_spring_forward_for_a_phrase(login, user):
    runs = preview_at(
        login,
        user,
        datetime(2025, 3, 8, 12, 0, tzinfo=UTC),
        {"schedule": {"phrase": "daily at 02:30", "timezone": "America/New_York"}, "count": 2},
    )
    assert runs == ["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"]


def test_wildcard_cron_keeps_firing_every_15_real_minutes_through_fall_back(login, user):
    runs = preview_at(
        login,
        user,
        datetime(2025, 11, 2, 5, 40, tzinfo=UTC),  # 01:40 EDT, twenty minutes before the clocks go back
        {"schedule": {"kind": "cron", "cron": "*/15 * * * *", "timezone": "America/New_York"}, "count": 6},
    )
    assert runs == [
        "2025-11-02T01:45:00-04:00",
        "2025-11-02T01:00:00-05:00",
        "2025-11-02T01:15:00-05:00",
        "2025-11-02T01:30:00-05:00",
        "2025-11-02T01:45:00-05:00",
        "2025-11-02T02:00:00-05:00",
    ]
    instants = [datetime.fromisoformat(text) for text in runs]
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(instants))


def test_interval_is_exact_elapsed_time_anchored_at_now(login, user):
    runs = preview_at(
        login,
        user,
        datetime(2025, 3, 30, 0, 30, 5, 999_000, tzinfo=UTC),  # 01:30:05 CET, half an hour before the gap
        {"schedule": {"kind": "interval", "every": 30, "unit": "minutes", "timezone": "Europe/Berlin"}, "count": 3},
    )
    # 01:30:05 CET + 30 real minutes is 03:00:05 CEST: the clock jumped, the interval did not.
    assert runs == ["2025-03-30T03:00:05+02:00", "2025-03-30T03:30:05+02:00", "2025-03-30T04:00:05+02:00"]


def test_anonymous_is_401(anon):
    assert_error(anon.post(URL, {"schedule": {"phrase": "every hour"}}, format="json"), 401, "not_authenticated")
