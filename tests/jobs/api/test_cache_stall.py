"""A write while Redis is stalled: once Redis answers again, no entry cached before the write is served.

The issue measured a stale detail (`X-Cache: hit`) for about 50 s after Redis resumed: the version bump
of the write was lost while Redis was frozen. The bump is now retried until Redis takes it.
"""

from __future__ import annotations

import time

import pytest

from jobs import cache as job_cache

pytestmark = pytest.mark.django_db(transaction=True)  # the bump runs at commit


def test_a_write_during_a_stall_is_seen_as_soon_as_redis_answers_again(private_redis, login, make_job, user):
    api = login(user)
    job = make_job(user, name="before")
    url = f"/api/v1/jobs/{job.pk}/"
    assert api.get(url)["X-Cache"] == "miss"
    assert api.get(url)["X-Cache"] == "hit"

    private_redis.freeze()
    try:
        response = api.patch(url, {"name": "after"}, format="json")
        assert response.status_code == 200, response.content  # the write does not wait for the cache
        assert job.owner_id in job_cache._retry.pending()  # the lost bump is kept
    finally:
        private_redis.thaw()

    deadline = time.monotonic() + 5
    while job_cache._retry.pending():
        assert time.monotonic() < deadline, "the bump was not retried within 5 s of Redis answering"
        time.sleep(0.1)
    response = api.get(url)
    assert response["X-Cache"] == "miss"
    assert response.json()["name"] == "after"


def test_a_bump_is_given_up_once_every_entry_it_guarded_has_expired(private_redis, settings, monkeypatch):
    settings.API_CACHE_TTL_SECONDS = 1
    monkeypatch.setattr(job_cache, "BUMP_RETRY_SECONDS", 0.2)
    private_redis.stop()  # gone for good
    job_cache.bump_many(["owner-a"])
    assert job_cache._retry.pending() == {"owner-a"}
    deadline = time.monotonic() + 5
    while job_cache._retry.pending():
        assert time.monotonic() < deadline, "still retrying after the TTL"
        time.sleep(0.1)
