"""Token obtain counts failed logins per (username, address), per address and per username; the attacker
is locked out with growing delays, the owner from a clean address is not."""

from __future__ import annotations

import logging

import pytest
import time_machine
from rest_framework.test import APIClient
from rest_framework_simplejwt import serializers as jwt_serializers

from accounts import throttles
from scheduler_site.metrics import REGISTRY

URL = "/api/v1/token/"
ATTACKER = "203.0.113.66"
OWNER_HOME = "198.51.100.10"


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


@pytest.fixture
def clock():
    with time_machine.travel("2026-03-02 09:00:00+00:00", tick=False) as traveller:
        yield traveller


@pytest.fixture
def password_checks(monkeypatch):
    """How many times a password was checked (simplejwt's serializer calls authenticate)."""
    calls = []
    real = jwt_serializers.authenticate

    def counting(*args, **kwargs):
        calls.append(kwargs.get("username"))
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt_serializers, "authenticate", counting)
    return calls


def attempt(username, password="wrong", *, address=ATTACKER):
    # A fresh client per attempt: nothing but the username and address ties attempts together.
    return APIClient(REMOTE_ADDR=address).post(URL, {"username": username, "password": password}, format="json")


def fail(username, times, *, address=ATTACKER):
    for _ in range(times):
        response = attempt(username, address=address)
        assert response.status_code == 401, response.content


def assert_throttled(response, retry_after=None):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert set(error) == {"code", "message"}
    seconds = int(response["Retry-After"])
    assert seconds > 0
    assert f"retry in {seconds} seconds" in error["message"]
    if retry_after is not None:
        assert seconds == retry_after
    return seconds


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- per (username, address) ------------------------------------------------------------------


def test_the_guessing_pair_is_refused_after_its_failures(user, clock):
    fail("alice", 3)
    assert_throttled(attempt("alice"), retry_after=60)


def test_a_correct_password_from_a_locked_pair_is_refused_without_being_checked(user, clock, password_checks):
    fail("alice", 3)
    assert len(password_checks) == 3
    assert_throttled(attempt("alice", user.raw_password))
    assert_throttled(attempt("alice"))
    assert len(password_checks) == 3  # refused attempts cost no password hash


def test_the_owner_logs_in_from_a_clean_address_while_the_username_is_guessed_elsewhere(user, clock):
    fail("alice", 3)  # the attacker's pair is locked...
    for index in range(6):  # ...and the username is over its limit, from other addresses too
        attempt("alice", address=f"192.0.2.{index}")
    assert_throttled(attempt("alice"))
    assert attempt("alice", user.raw_password, address=OWNER_HOME).status_code == 200
    assert attempt("alice", user.raw_password, address=OWNER_HOME).status_code == 200


def test_lockouts_double_with_each_further_failure_up_to_the_cap(user, clock):
    fail("alice", 3)
    assert_throttled(attempt("alice"), retry_after=60)
    clock.shift(59)
    assert_throttled(attempt("alice"), retry_after=1)
    clock.shift(2)
    # Each time a lock lapses one more guess is let through, and its failure locks for twice as long.
    for lockout in (120, 240, 240):
        assert attempt("alice").status_code == 401
        assert_throttled(attempt("alice"), retry_after=lockout)
        clock.shift(lockout + 1)


def test_a_success_clears_the_pair(user, clock):
    fail("alice", 2)
    assert attempt("alice", user.raw_password).status_code == 200
    fail("alice", 2)
    assert attempt("alice", user.raw_password).status_code == 200


def test_failures_are_forgotten_after_a_quiet_hour(user, clock):
    fail("alice", 2)
    clock.shift(3601)
    fail("alice", 2)
    assert attempt("alice", user.raw_password).status_code == 200


def test_other_usernames_from_the_same_address_are_not_refused_by_the_pair(user, make_user, clock):
    bob = make_user("bob")
    fail("alice", 3)
    assert_throttled(attempt("alice"))
    assert attempt("bob", bob.raw_password).status_code == 200
    assert attempt("carol").status_code == 401


def test_username_variants_are_one_pair(user, clock):
    for username in ("alice", "Alice", " ALICE "):
        assert attempt(username).status_code == 401
    assert_throttled(attempt("alice"))


def test_numeric_usernames_are_counted_too(db, clock):
    for _ in range(3):
        assert APIClient().post(URL, {"username": 12345, "password": "x"}, format="json").status_code == 401
    assert_throttled(APIClient().post(URL, {"username": "12345", "password": "x"}, format="json"))


def test_a_malformed_request_is_not_a_failure(user, clock):
    for _ in range(5):
        assert APIClient().post(URL, {"username": "alice"}, format="json").status_code == 400
    assert attempt("alice", user.raw_password, address="127.0.0.1").status_code == 200


# --- per address ---------------------------------------------------------------------------------


def test_an_address_failing_on_many_usernames_is_refused_for_every_username(user, clock):
    for index in range(10):
        fail(f"someone{index}", 1, address="192.0.2.7")
    assert_throttled(attempt("alice", user.raw_password, address="192.0.2.7"), retry_after=60)
    assert attempt("alice", user.raw_password, address="192.0.2.8").status_code == 200


def test_successes_do_not_count_against_an_address(user, clock):
    for _ in range(30):
        assert attempt("alice", user.raw_password).status_code == 200


# --- per username, across addresses -------------------------------------------------------------


def test_a_distributed_guess_gets_one_try_per_address_while_the_username_is_locked(user, clock):
    for index in range(5):
        fail("alice", 1, address=f"192.0.2.{index}")
    # Each address that failed on alice is refused, though its own pair is under its limit...
    assert_throttled(attempt("alice", address="192.0.2.0"), retry_after=60)
    # ...a fresh address gets its one try, and is then refused too.
    assert attempt("alice", address="192.0.2.99").status_code == 401
    assert_throttled(attempt("alice", user.raw_password, address="192.0.2.99"))
    # An address that never failed on alice is not refused.
    assert attempt("alice", user.raw_password, address=OWNER_HOME).status_code == 200


def test_the_owner_who_mistyped_is_let_in_once_the_username_lock_lapses(user, clock):
    for index in range(5):
        fail("alice", 1, address=f"192.0.2.{index}")
    fail("alice", 1, address=OWNER_HOME)  # counts as the sixth: the username's lock is now 120 s
    assert_throttled(attempt("alice", user.raw_password, address=OWNER_HOME), retry_after=120)
    clock.shift(121)
    assert attempt("alice", user.raw_password, address=OWNER_HOME).status_code == 200


# --- logs and metrics ------------------------------------------------------------------------------


def test_refusals_are_logged_and_counted_and_failures_counted(user, clock, caplog):
    failures = sample("scheduler_login_failures_total")
    by_pair = sample("scheduler_login_throttled_total", limit="pair")
    by_address = sample("scheduler_login_throttled_total", limit="address")
    long_name = "mallory-" + "x" * 100
    with caplog.at_level(logging.WARNING, logger="accounts.throttles"):
        fail(long_name, 3)
        assert_throttled(attempt(long_name))
        assert_throttled(attempt(long_name))
    assert sample("scheduler_login_failures_total") == failures + 3
    assert sample("scheduler_login_throttled_total", limit="pair") == by_pair + 2
    assert sample("scheduler_login_throttled_total", limit="address") == by_address
    refusals = [record.getMessage() for record in caplog.records if "login throttled" in record.getMessage()]
    assert len(refusals) == 2
    assert f"limit=pair username='{long_name[:32]}' address={ATTACKER} retry_after=60s" in refusals[0]
    assert long_name[:33] not in refusals[0]


# --- scope and defaults ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/token/refresh/", "/api/v1/me/"])
def test_only_token_obtain_is_throttled(path, api, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 1
    fail("nobody", 1, address="127.0.0.1")  # the test client's address is locked for token obtain
    assert_throttled(attempt("nobody", address="127.0.0.1"))
    refresh = api.tokens["refresh"]
    for _ in range(3):
        response = api.post(path, {"refresh": refresh}, format="json") if "refresh" in path else api.get(path)
        assert response.status_code == 200
        refresh = response.json().get("refresh", refresh)  # refresh tokens rotate


def test_defaults():
    from scheduler_site import settings as project

    assert (project.LOGIN_FAILURES_PER_PAIR, project.LOGIN_FAILURES_PER_ADDRESS) == (5, 100)
    assert project.LOGIN_FAILURES_PER_USERNAME == 20
    assert (project.LOGIN_LOCKOUT_SECONDS, project.LOGIN_LOCKOUT_MAX_SECONDS) == (60, 900)
    assert project.LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS == 3600


def test_the_scrape_exposes_the_login_counters(user, clock):
    from scheduler_site.metrics import render

    fail("alice", 3)
    assert_throttled(attempt("alice"))
    body = render()[0].decode()
    assert 'scheduler_login_throttled_total{limit="pair"}' in body
    assert 'scheduler_login_throttled_total{limit="username"}' in body  # every limit is present from the start
    assert "scheduler_login_failures_total " in body
