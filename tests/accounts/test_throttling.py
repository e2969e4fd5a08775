"""Token obtain is throttled per username (strict) and per client address (generous)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

URL = "/api/v1/token/"


def attempt(username, password="wrong", *, address="10.0.0.1"):
    # A fresh client per attempt: nothing but the username and address ties attempts together.
    return APIClient(REMOTE_ADDR=address).post(URL, {"username": username, "password": password}, format="json")


def assert_throttled(response):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert set(error) == {"code", "message"}
    assert 0 < int(response["Retry-After"]) <= 60


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_per_username_limit(user):
    for _ in range(3):
        assert attempt("alice").status_code == 401
    assert_throttled(attempt("alice"))
    # Even the right password waits: the limit is on attempts, not failures.
    assert_throttled(attempt("alice", user.raw_password))


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_per_username_limit_spans_addresses(user):
    for index in range(3):
        attempt("alice", address=f"10.0.1.{index}")
    assert_throttled(attempt("alice", address="10.0.1.99"))


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_other_usernames_from_the_same_address_are_not_blocked(user, make_user):
    bob = make_user("bob")
    for _ in range(4):
        attempt("alice")
    assert attempt("bob", bob.raw_password).status_code == 200
    assert attempt("carol").status_code == 401


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_username_variants_share_one_limit(user):
    for username in ("alice", "Alice", " ALICE "):
        attempt(username)
    assert_throttled(attempt("alice"))


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_numeric_username_is_throttled_too(db):
    for _ in range(3):
        APIClient().post(URL, {"username": 12345, "password": "x"}, format="json")
    assert_throttled(APIClient().post(URL, {"username": "12345", "password": "x"}, format="json"))


@override_settings(LOGIN_RATE_PER_USERNAME="3/min")
def test_limit_lifts_after_the_window(user):
    for _ in range(4):
        attempt("alice")
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert attempt("alice", user.raw_password).status_code == 200


@override_settings(LOGIN_RATE_PER_USERNAME="100/min", LOGIN_RATE_PER_IP="5/min")
def test_per_address_limit(user):
    for index in range(5):
        assert attempt(f"someone{index}", address="192.0.2.7").status_code == 401
    assert_throttled(attempt("alice", user.raw_password, address="192.0.2.7"))
    # Another address is unaffected.
    assert attempt("alice", user.raw_password, address="192.0.2.8").status_code == 200


def test_default_rates_are_per_username_stricter_than_per_address(settings):
    assert settings.LOGIN_RATE_PER_USERNAME == "10/min"
    assert settings.LOGIN_RATE_PER_IP == "300/min"


@pytest.mark.parametrize("path", ["/api/v1/token/refresh/", "/api/v1/me/"])
@override_settings(LOGIN_RATE_PER_USERNAME="1/min", LOGIN_RATE_PER_IP="1/min")
def test_only_token_obtain_is_throttled(path, api):
    for _ in range(3):
        response = (
            api.post(path, {"refresh": api.tokens["refresh"]}, format="json") if "refresh" in path else api.get(path)
        )
        assert response.status_code == 200
