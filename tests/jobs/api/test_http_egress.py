"""The egress policy at write time: a URL the policy refuses is a 400 naming why; follow_redirects round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import Job
from tests.factories import http_action, job_data
from tests.jobs.api.conftest import assert_error

REFUSED = [
    ("http://127.0.0.1:8000/admin/", "127.0.0.1 is a loopback address"),
    ("http://localhost/", "loopback name"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.8/", "a private address"),
    ("http://2130706433/", "as one decimal number"),
    ("http://0x7f.1/", "hexadecimal"),
    ("http://0177.0.0.1/", "octal"),
    ("http://127.1/", "short form"),
    ("http://\uff11\uff12\uff17.0.0.1/", "non-ASCII"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://example.com\\@127.0.0.1/", "backslash"),
    ("ftp://example.com/", "only http and https"),
    ("http://0.0.0.0:6379/", "unspecified"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[url for url, _ in REFUSED])
def test_a_refused_url_is_a_400_that_says_why_and_saves_nothing(api: Any, url: str, why: str) -> None:
    response = api.post("/api/v1/jobs/", job_data(name="egress", action=http_action(url)), format="json")
    error = assert_error(response, 400, "validation_error", "action.url")
    (message,) = error["fields"]["action.url"]
    assert message.startswith("This URL is not allowed: ")
    assert why in message
    assert not Job.objects.filter(name="egress").exists()


def test_a_change_to_a_refused_url_is_a_400(api: Any) -> None:
    created = api.post("/api/v1/jobs/", job_data(action=http_action()), format="json").json()
    response = api.patch(
        f"/api/v1/jobs/{created['id']}/", {"action": http_action("http://169.254.169.254/")}, format="json"
    )
    assert_error(response, 400, "validation_error", "action.url")
    assert Job.objects.get(pk=created["id"]).http_url == "http://reports.internal/run"


def test_an_allowed_network_lets_the_url_through(api: Any, settings: Any) -> None:
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.1"]
    for url in ("http://10.0.0.8/hook", "http://127.0.0.1:8000/healthz"):
        response = api.post("/api/v1/jobs/", job_data(action=http_action(url)), format="json")
        assert response.status_code == 201, response.content


def test_the_services_own_database_and_cache_stay_refused_when_loopback_is_allowed(api: Any, settings: Any) -> None:
    if not settings.REDIS_URL.startswith("redis://127.0.0.1:6379"):
        pytest.skip("the lane's Redis is not on 127.0.0.1:6379")
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1"]
    response = api.post("/api/v1/jobs/", job_data(action=http_action("http://127.0.0.1:6379/")), format="json")
    error = assert_error(response, 400, "validation_error", "action.url")
    assert "this service's own database, cache or broker" in error["fields"]["action.url"][0]


def test_a_host_name_is_not_resolved_at_write_time(api: Any) -> None:
    # Only the run checks where a name leads (an answer now proves nothing about later).
    response = api.post(
        "/api/v1/jobs/", job_data(action=http_action("http://does-not-resolve.invalid/")), format="json"
    )
    assert response.status_code == 201, response.content


def test_follow_redirects_defaults_to_off_and_round_trips(api: Any) -> None:
    created = api.post("/api/v1/jobs/", job_data(action=http_action()), format="json").json()
    assert created["action"]["follow_redirects"] is False
    detail = f"/api/v1/jobs/{created['id']}/"
    changed = api.patch(detail, {"action": http_action(follow_redirects=True)}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["action"]["follow_redirects"] is True
    assert Job.objects.get(pk=created["id"]).http_follow_redirects is True
    again = api.put(detail, api.get(detail).json(), format="json")  # what a GET returned, sent back
    assert again.status_code == 200, again.content
    assert again.json()["action"]["follow_redirects"] is True


@pytest.mark.parametrize("value", ["yes", 1, [], {}])
def test_follow_redirects_must_be_a_boolean(api: Any, value: Any) -> None:
    response = api.post("/api/v1/jobs/", job_data(action=http_action(follow_redirects=value)), format="json")
    error = assert_error(response, 400, "validation_error", "action.follow_redirects")
    assert error["fields"]["action.follow_redirects"] == ["Must be true or false."]


def test_follow_redirects_is_not_a_task_field(api: Any) -> None:
    action = {"type": "task", "task": "echo", "follow_redirects": True}
    assert_error(
        api.post("/api/v1/jobs/", job_data(action=action), format="json"), 400, field="action.follow_redirects"
    )
