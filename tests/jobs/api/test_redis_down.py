"""With Redis unreachable (really: nothing listens on its port), the API answers from the database."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache import cache, caches

from jobs.models import Job
from tests.factories import job_data

UNREACHABLE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "KEY_PREFIX": "scheduler",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
        },
    }
}


@pytest.fixture
def redis_down(settings, api, make_job, user):
    """Sign in and create a job while Redis is up, then point the cache at a dead port."""
    job = make_job(user, name="existing")
    api.get("/api/v1/jobs/")  # something cached in the real Redis, now out of reach
    settings.CACHES = UNREACHABLE  # Django's setting_changed handler rebuilds `caches`
    assert caches["default"]._server == "redis://127.0.0.1:1/0"
    with pytest.raises(Exception):  # noqa: B017  (any error: the port is closed)
        cache.get("probe")
    return job  # the settings fixture restores CACHES, and Django rebuilds `caches` again


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jobs.cache" and r.levelno == logging.WARNING]


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_reads_and_writes_succeed_from_the_database_with_a_warning(api, redis_down, caplog):
    job = redis_down
    caplog.set_level(logging.WARNING)
    started = time.monotonic()

    listed = api.get("/api/v1/jobs/")
    shown = api.get(f"/api/v1/jobs/{job.pk}/")
    created = api.post("/api/v1/jobs/", job_data(name="made-while-down"), format="json")
    patched = api.patch(f"/api/v1/jobs/{job.pk}/", {"description": "edited while down"}, format="json")
    put = api.put(f"/api/v1/jobs/{job.pk}/", job_data(name="existing", description="put"), format="json")
    paused = api.post(f"/api/v1/jobs/{job.pk}/pause/")
    deleted = api.delete(f"/api/v1/jobs/{created.json()['id']}/")
    relisted = api.get("/api/v1/jobs/")

    assert (listed.status_code, listed["X-Cache"]) == (200, "miss")
    assert [j["name"] for j in listed.json()["results"]] == ["existing"]
    assert (shown.status_code, shown["X-Cache"]) == (200, "miss")
    assert created.status_code == 201, created.content
    assert patched.status_code == 200 and patched.json()["description"] == "edited while down"
    assert put.status_code == 200 and put.json()["description"] == "put"
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert deleted.status_code == 204
    assert (relisted.status_code, relisted["X-Cache"]) == (200, "miss")
    assert relisted.json()["results"][0]["enabled"] is False
    assert Job.objects.get(pk=job.pk).description == "put"

    warnings = cache_warnings(caplog)
    assert warnings and all("unreachable" in message for message in warnings)
    assert any("invalidation" in message for message in warnings)
    assert any("lookup" in message for message in warnings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Short socket timeouts: an outage slows requests a little, it does not hang them.
    assert time.monotonic() - started < 10


def test_preview_and_history_do_not_need_the_cache(api, redis_down):
    job = redis_down
    assert (
        api.post("/api/v1/schedules/preview/", {"schedule": {"phrase": "every hour"}}, format="json").status_code == 200
    )
    assert api.get(f"/api/v1/jobs/{job.pk}/events/").status_code == 200
    assert api.get(f"/api/v1/jobs/{job.pk}/runs/").status_code == 200
    assert api.post(f"/api/v1/jobs/{job.pk}/run/").status_code == 202
