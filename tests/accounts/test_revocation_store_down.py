"""With the shared cache really unreachable: refresh and logout fail closed (503), requests with a valid
access token are checked against the database's revocations (logged), and token obtain still works."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.accounts.tokens import assert_401

# Nothing listens on port 1: connections are refused at once.
UNREACHABLE_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture
def store_down(api):
    """Tokens obtained while the store was up; then the store goes away for the test."""
    # override_settings(CACHES=...) closes and resets django.core.cache.caches on enter and exit.
    with override_settings(CACHES=UNREACHABLE_CACHES):
        from django.core.cache import cache

        with pytest.raises(RedisConnectionError):  # the store really is unreachable
            cache.get("anything")
        yield api


def assert_503(response):
    assert response.status_code == 503, response.content
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "The token revocation store is unreachable; try again shortly.",
        }
    }


def test_refresh_fails_closed(anon, store_down):
    assert_503(anon.post("/api/v1/token/refresh/", {"refresh": store_down.tokens["refresh"]}, format="json"))


def test_logout_fails_closed(store_down):
    assert_503(store_down.post("/api/v1/token/logout/", {"refresh": store_down.tokens["refresh"]}, format="json"))


def test_valid_access_token_proceeds_and_the_database_check_is_logged(store_down, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.authentication"):
        response = store_down.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert any(
        record.levelno == logging.WARNING and "checked against the database" in record.getMessage()
        for record in caplog.records
    )


def test_deactivated_user_is_still_rejected(store_down, user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_401(store_down.get("/api/v1/me/"), "user_inactive")


def test_invalid_access_token_is_still_rejected(anon, store_down):
    assert_401(anon.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer not.a.jwt"), "token_not_valid")


def test_token_obtain_still_works_and_the_in_process_throttle_fallback_is_logged(anon, user, store_down, caplog):
    # The login limiter's own outage behaviour is tested in tests/accounts/test_throttling_cache_down.py.
    with caplog.at_level(logging.WARNING, logger="accounts.throttles"):
        response = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    assert response.status_code == 200
    assert any("counting failed logins in this process" in record.getMessage() for record in caplog.records)


def test_failed_logout_revoked_nothing_and_works_once_the_store_is_back(anon, user, api):
    with override_settings(CACHES=UNREACHABLE_CACHES):
        assert_503(api.post("/api/v1/token/logout/", {"refresh": api.tokens["refresh"]}, format="json"))
    assert api.get("/api/v1/me/").status_code == 200
    assert api.post("/api/v1/token/logout/", {"refresh": api.tokens["refresh"]}, format="json").status_code == 204
    assert_401(api.get("/api/v1/me/"), "token_revoked")
