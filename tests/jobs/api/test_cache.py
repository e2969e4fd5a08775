"""Caching of list and detail responses in the shared cache (real Redis in both lanes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from jobs import cache as job_cache
from jobs import services
from jobs.models import Job
from tests.factories import job_data
from tests.jobs.api.conftest import assert_error

LIST = "/api/v1/jobs/"


def detail(job) -> str:
    return f"/api/v1/jobs/{job.pk}/"


def response_entries() -> dict[str, int]:
    """Cached responses and their remaining TTL in seconds (tests may scan keys; the code never does)."""
    return {key: cache.ttl(key) for key in cache.keys("jobs:r:*")}


def test_list_and_detail_miss_then_hit(api, make_job, user):
    job = make_job(user)
    for url in (LIST, detail(job)):
        first, second = api.get(url), api.get(url)
        assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
        assert first.json() == second.json()


def test_the_cached_entry_is_the_rendered_body_with_its_version(api, make_job, user):
    make_job(user)
    response = api.get(LIST)
    (key,) = response_entries()
    version, body = cache.get(key)
    assert isinstance(version, str)
    assert body == response.content  # a hit serves these bytes without rendering
    assert api.get(LIST).content == body


def test_entries_are_per_user(api, login, make_job, user, bob):
    make_job(user, name="alice-job")
    make_job(bob, name="bob-job")
    assert api.get(LIST)["X-Cache"] == "miss"

    as_bob = login(bob).get(LIST)

    assert as_bob["X-Cache"] == "miss"
    assert [job["name"] for job in as_bob.json()["results"]] == ["bob-job"]


def test_another_users_detail_is_404_even_when_cached_for_its_owner(api, login, make_job, bob):
    job = make_job(bob)
    owner = login(bob)
    owner.get(detail(job))
    assert owner.get(detail(job))["X-Cache"] == "hit"
    assert_error(api.get(detail(job)), 404, "not_found")


def test_entries_are_per_query_string_regardless_of_parameter_order(api, make_job, user):
    make_job(user, name="a")
    make_job(user, name="b")
    assert api.get(LIST, {"page_size": 1})["X-Cache"] == "miss"
    assert api.get(LIST)["X-Cache"] == "miss"
    assert api.get("/api/v1/jobs/?ordering=-name&page_size=1")["X-Cache"] == "miss"
    again = api.get("/api/v1/jobs/?page_size=1&ordering=-name")
    assert again["X-Cache"] == "hit"
    assert [job["name"] for job in again.json()["results"]] == ["b"]


def test_errors_are_not_cached(api):
    assert_error(api.get(LIST, {"page_size": 999}), 400)
    assert response_entries() == {}


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("method", "suffix", "payload", "check"),
    [
        ("patch", "", {"name": "renamed"}, lambda body: body["name"] == "renamed"),
        ("put", "", job_data(name="replaced"), lambda body: body["name"] == "replaced"),
        ("post", "pause/", None, lambda body: body["enabled"] is False),
        ("post", "run/", None, lambda body: True),
    ],
)
def test_every_api_write_is_visible_on_the_next_read(api, make_job, user, method, suffix, payload, check):
    job = make_job(user)
    for url in (LIST, detail(job)):
        api.get(url)
        assert api.get(url)["X-Cache"] == "hit"

    response = getattr(api, method)(f"{detail(job)}{suffix}", payload, format="json")
    assert response.status_code in (200, 202), response.content

    listed = api.get(LIST)
    shown = api.get(detail(job))
    assert (listed["X-Cache"], shown["X-Cache"]) == ("miss", "miss")
    assert check(listed.json()["results"][0]) and check(shown.json())


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_create_resume_and_delete_are_visible_on_the_next_read(api, make_job, user):
    job = make_job(user, enabled=False)
    api.get(LIST)
    api.post(LIST, job_data(name="zz-new"), format="json")
    assert [j["name"] for j in api.get(LIST).json()["results"]] == [job.name, "zz-new"]

    api.get(detail(job))
    api.post(f"{detail(job)}resume/")
    assert api.get(detail(job)).json()["enabled"] is True

    api.get(LIST)
    api.delete(detail(job))
    assert [j["name"] for j in api.get(LIST).json()["results"]] == ["zz-new"]
    assert_error(api.get(detail(job)), 404)


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_writes_outside_the_api_are_visible_too(api, make_job, user, staff):
    job = make_job(user)
    api.get(detail(job))

    services.job_update(job=job, actor=staff, data={"description": "from the admin"})
    assert api.get(detail(job)).json()["description"] == "from the admin"

    # A run ending updates last_status through the runs code, which bumps the owner's version.
    Job.objects.filter(pk=job.pk).update(last_status="failed")
    job_cache.bump(user.pk)
    shown = api.get(detail(job))
    assert (shown["X-Cache"], shown.json()["last_status"]) == ("miss", "failed")


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_staff_views_see_any_owners_write(login, make_job, user, staff):
    job = make_job(user)
    admin = login(staff)
    admin.get(LIST)
    assert admin.get(LIST)["X-Cache"] == "hit"

    services.job_pause(job=job, actor=user)

    listed = admin.get(LIST)
    assert listed["X-Cache"] == "miss" and listed.json()["results"][0]["enabled"] is False


def test_ttl_is_at_most_the_setting(api, make_job, user, settings):
    settings.API_CACHE_TTL_SECONDS = 45
    make_job(user, schedule={"kind": "cron", "cron": "0 0 1 1 *"})
    api.get(LIST)
    (ttl,) = response_entries().values()
    assert 40 <= ttl <= 45


def test_ttl_never_outlives_the_earliest_next_run_in_the_response(api, make_job, user, settings):
    settings.API_CACHE_TTL_SECONDS = 300
    make_job(user, schedule={"kind": "cron", "cron": "0 0 1 1 *"})
    soon = make_job(user, schedule={"phrase": "every 20 seconds"})
    api.get(LIST)
    api.get(detail(soon))

    ttls = response_entries()
    assert len(ttls) == 2
    assert all(0 < ttl < 20 for ttl in ttls.values())


def test_a_response_whose_next_run_is_due_is_not_cached(api, make_job, user):
    job = make_job(user)
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now() - timedelta(seconds=5))
    job_cache.bump(user.pk)
    assert api.get(LIST)["X-Cache"] == "miss"
    assert api.get(LIST)["X-Cache"] == "miss"
    assert response_entries() == {}


def test_ttl_zero_disables_the_cache(api, make_job, user, settings):
    settings.API_CACHE_TTL_SECONDS = 0
    make_job(user)
    assert [api.get(LIST)["X-Cache"] for _ in range(2)] == ["miss", "miss"]


def test_a_hit_costs_one_cache_round_trip_shared_with_the_token_check(api, make_job, user, monkeypatch):
    from django.core.cache import caches

    job = make_job(user)
    backend = type(caches["default"])
    real_get_many = backend.get_many
    calls = []

    def counting(self, keys, *args, **kwargs):
        calls.append(list(keys))
        return real_get_many(self, keys, *args, **kwargs)

    monkeypatch.setattr(backend, "get_many", counting)
    for url in (LIST, detail(job)):
        api.get(url)
        calls.clear()
        assert api.get(url)["X-Cache"] == "hit"
        assert len(calls) == 1, calls  # revocation, user snapshot, version and page together
        assert any(key.startswith("jobs:r:") for key in calls[0])


def test_a_deactivated_users_token_gets_no_cached_page(login, make_job, user, staff):
    from accounts import services as accounts_services

    make_job(user)
    client = login(user)
    client.get(LIST)
    assert client.get(LIST)["X-Cache"] == "hit"
    accounts_services.user_deactivate(user=user, actor=staff)
    assert_error(client.get(LIST), 401)


def test_a_revoked_token_is_refused_even_when_the_page_is_cached(login, make_job, user):
    make_job(user)
    client = login(user)
    client.get(LIST)
    assert client.get(LIST)["X-Cache"] == "hit"

    logout = client.post("/api/v1/token/logout/", {"refresh": client.tokens["refresh"]}, format="json")
    assert logout.status_code == 204, logout.content

    assert_error(client.get(LIST), 401)


def test_an_expired_token_is_refused_even_when_the_page_is_cached(login, make_job, user, settings):
    make_job(user)
    client = login(user)
    client.get(LIST)
    assert client.get(LIST)["X-Cache"] == "hit"

    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now() + lifetime + timedelta(seconds=5)):
        assert_error(client.get(LIST), 401)


def test_a_response_over_the_entry_cap_is_served_but_not_cached(api, make_job, user, settings):
    settings.API_CACHE_MAX_ENTRY_BYTES = 4096
    small = make_job(user)
    large = make_job(user, action={"type": "task", "task": "echo", "args": [], "kwargs": {"blob": "x" * 8000}})

    assert api.get(detail(small))["X-Cache"] == "miss"
    assert api.get(detail(small))["X-Cache"] == "hit"
    for _ in range(2):
        response = api.get(detail(large))
        assert response.status_code == 200 and response["X-Cache"] == "miss"
    assert len(api.get("/api/v1/jobs/").content) > 4096
    assert api.get("/api/v1/jobs/")["X-Cache"] == "miss"
