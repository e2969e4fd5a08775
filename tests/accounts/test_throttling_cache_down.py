"""With the shared cache really unreachable (a closed port, or a redis-server this test starts and
stops by its PID), login throttling counts in the process: it never fails open."""

from __future__ import annotations

import logging
import signal
import threading
import time

import pytest
import redis
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import throttles
from scheduler_site.metrics import REGISTRY
from tests.redis_server import caches_at

URL = "/api/v1/token/"
ATTACKER = "203.0.113.66"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_PER_PAIR = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 10
    settings.LOGIN_FAILURES_PER_USERNAME = 5
    settings.LOGIN_LOCKOUT_SECONDS = 60
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 240
    settings.LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS = 3600
    throttles.local_store.clear()
    yield settings
    throttles.local_store.clear()
    throttles.outage.up()


@pytest.fixture
def cache_down(settings, user):
    """Nothing listens on port 1: every cache call is refused at once."""
    settings.CACHES = caches_at("redis://127.0.0.1:1/0")  # Django's setting_changed handler rebuilds `caches`
    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("probe")
    return user


def attempt(username, password="wrong", *, address=ATTACKER):
    return APIClient(REMOTE_ADDR=address).post(URL, {"username": username, "password": password}, format="json")


def assert_throttled(response, retry_after=None):
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "throttled"
    if retry_after is not None:
        assert int(response["Retry-After"]) == retry_after


def outage_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "shared cache unreachable" in r.getMessage()]


# --- a closed port ---------------------------------------------------------------------------------


def test_guessing_is_refused_in_the_process_while_the_cache_is_down(cache_down, caplog):
    before = REGISTRY.get_sample_value("scheduler_login_throttled_total", {"limit": "pair"})
    with caplog.at_level(logging.WARNING, logger="accounts.throttles"):
        for _ in range(3):
            assert attempt("alice").status_code == 401
        # What the issue measured: 30 guesses, no 429. Now all but the first three are refused.
        answers = [attempt("alice").status_code for _ in range(27)]
    assert answers == [429] * 27
    assert REGISTRY.get_sample_value("scheduler_login_throttled_total", {"limit": "pair"}) == before + 27
    # The outage is logged once, not on every request.
    assert len(outage_logs(caplog)) == 1
    assert "counting failed logins in this process" in outage_logs(caplog)[0]


def test_growing_lockouts_and_the_per_address_limit_hold_in_the_process(cache_down):
    with time_machine.travel("2026-03-02 09:00:00+00:00", tick=False) as clock:
        for _ in range(3):
            attempt("alice")
        assert_throttled(attempt("alice"), retry_after=60)
        clock.shift(61)
        assert attempt("alice").status_code == 401
        assert_throttled(attempt("alice"), retry_after=120)
        for index in range(6):  # ten failures from one address in all
            assert attempt(f"someone{index}", address="192.0.2.7").status_code == 401
        for index in range(4):
            assert attempt(f"other{index}", address="192.0.2.7").status_code == 401
        assert_throttled(attempt("anyone", address="192.0.2.7"), retry_after=60)


def test_the_owner_still_logs_in_from_a_clean_address_while_the_cache_is_down(cache_down):
    user = cache_down
    for _ in range(3):
        attempt("alice")
    assert_throttled(attempt("alice", user.raw_password))
    assert attempt("alice", user.raw_password, address="198.51.100.10").status_code == 200


# --- a real Redis that stops, then comes back empty ----------------------------------------------


def test_redis_stopping_mid_attack_and_coming_back_empty_opens_nothing(user, private_redis, caplog):
    caplog.set_level(logging.WARNING, logger="accounts.throttles")
    for _ in range(2):
        assert attempt("alice").status_code == 401  # counted in the private Redis
    assert redis.Redis(port=private_redis.port).dbsize() > 0

    private_redis.stop()
    # The process has not seen the two failures Redis held: it counts three of its own.
    for _ in range(3):
        assert attempt("alice").status_code == 401
    assert_throttled(attempt("alice", user.raw_password))
    assert len(outage_logs(caplog)) == 1

    private_redis.start()  # empty: `--save ""` kept nothing
    assert redis.Redis(port=private_redis.port).dbsize() == 0
    # The lock the process recorded is still honoured after the cache answers again.
    assert_throttled(attempt("alice", user.raw_password))
    assert any("answers again" in record.getMessage() for record in caplog.records)
    # New failures go to Redis once more, shared by every process.
    assert attempt("bob", address="192.0.2.1").status_code == 401
    assert redis.Redis(port=private_redis.port).dbsize() > 0


def test_a_frozen_redis_costs_each_attempt_its_timeouts_and_still_refuses(user, private_redis):
    assert attempt("alice").status_code == 401
    private_redis.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        for _ in range(3):
            assert attempt("alice").status_code == 401
        assert_throttled(attempt("alice", user.raw_password))
        # Four attempts, each paying at most a read and a write timeout (0.2 s each here).
        assert time.monotonic() - started < 4
    finally:
        private_redis.process.send_signal(signal.SIGCONT)


# --- the in-process store itself ---------------------------------------------------------------------


def test_the_in_process_store_is_bounded_and_forgets():
    store = throttles.MemoryStore(max_entries=3)
    store.add_failure(["a", "b", "c"], now=1000.0, forget_after=60)
    store.add_failure(["d"], now=1001.0, forget_after=60)
    assert len(store) == 3
    assert set(store.read(["a", "b", "c", "d"], now=1001.0, forget_after=60)) == {"b", "c", "d"}
    assert store.read(["d"], now=1062.0, forget_after=60) == {}
    store.add_failure(["e"], now=1062.0, forget_after=60)
    assert len(store) == 1  # everything else was forgotten


def test_the_in_process_store_counts_every_failure_from_many_threads():
    store = throttles.MemoryStore()
    start = threading.Barrier(8)

    def hammer():
        start.wait()
        for _ in range(500):
            store.add_failure(["pair", "address"], now=1000.0, forget_after=60)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.read(["pair"], now=1000.0, forget_after=60)["pair"].failures == 4000
