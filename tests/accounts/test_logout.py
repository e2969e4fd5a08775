"""POST /api/v1/token/logout/ revokes the refresh token in the body and the access token presented with it."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from accounts.revocation import is_revoked, revoke
from tests.accounts.tokens import assert_401, bearer, claims_of

URL = "/api/v1/token/logout/"
ME = "/api/v1/me/"
REFRESH = "/api/v1/token/refresh/"


def test_logout_revokes_both_tokens(anon, user, api):
    response = api.post(URL, {"refresh": api.tokens["refresh"]}, format="json")
    assert response.status_code == 204

    assert_401(api.get(ME), "token_revoked")
    assert_401(api.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "token_revoked")
    assert_401(anon.post(REFRESH, {"refresh": api.tokens["refresh"]}, format="json"), "token_revoked")


def test_other_sessions_of_the_same_user_stay_logged_in(anon, user, login):
    first, second = login(user), login(user)
    assert first.post(URL, {"refresh": first.tokens["refresh"]}, format="json").status_code == 204
    assert second.get(ME).status_code == 200
    assert anon.post(REFRESH, {"refresh": second.tokens["refresh"]}, format="json").status_code == 200


def test_requires_an_access_token(anon, user, api):
    assert_401(anon.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "not_authenticated")
    # ...and nothing was revoked.
    assert anon.post(REFRESH, {"refresh": api.tokens["refresh"]}, format="json").status_code == 200


def test_cannot_revoke_another_users_refresh_token(anon, user, staff, api, login):
    other = login(staff)
    response = api.post(URL, {"refresh": other.tokens["refresh"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"refresh"}
    assert anon.post(REFRESH, {"refresh": other.tokens["refresh"]}, format="json").status_code == 200
    assert api.get(ME).status_code == 200


def test_invalid_refresh_token(api):
    assert_401(api.post(URL, {"refresh": "not.a.jwt"}, format="json"), "token_not_valid")
    assert api.get(ME).status_code == 200


def test_access_token_in_place_of_refresh_token(api):
    assert_401(api.post(URL, {"refresh": api.tokens["access"]}, format="json"), "token_not_valid")


def test_missing_refresh_field(api):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"refresh": ["This field is required."]}


def test_revoked_ids_are_kept_in_the_shared_cache_for_the_tokens_remaining_life(anon, user, api):
    assert api.post(URL, {"refresh": api.tokens["refresh"]}, format="json").status_code == 204
    access, refresh = claims_of(api.tokens["access"]), claims_of(api.tokens["refresh"])
    assert is_revoked(access["jti"]) and is_revoked(refresh["jti"])
    if not hasattr(cache, "ttl"):
        pytest.skip("the cache backend does not report expiry times")
    now = time.time()
    assert access["exp"] - now - 5 <= cache.ttl("revoked-jti:" + access["jti"]) <= access["exp"] - now + 2
    assert refresh["exp"] - now - 5 <= cache.ttl("revoked-jti:" + refresh["jti"]) <= refresh["exp"] - now + 2


def test_revoke_keeps_an_already_expired_token_briefly(db):
    revoke("old-token", int(time.time()) - 100)
    assert is_revoked("old-token")
    assert not is_revoked("never-revoked")


def test_logging_in_again_after_logout_works(anon, user, login):
    client = login(user)
    client.post(URL, {"refresh": client.tokens["refresh"]}, format="json")
    fresh = login(user)
    assert fresh.get(ME).status_code == 200
    assert anon.get(ME, **bearer(client.tokens["access"])).status_code == 401


def test_logout_ends_every_token_of_the_login_rotated_or_not(anon, user, api):
    rotated = anon.post(REFRESH, {"refresh": api.tokens["refresh"]}, format="json").json()
    newest = anon.post(REFRESH, {"refresh": rotated["refresh"]}, format="json").json()
    assert api.post(URL, {"refresh": newest["refresh"]}, format="json").status_code == 204

    for access in (rotated["access"], newest["access"]):  # minted by refresh, never presented to logout
        assert_401(anon.get(ME, **bearer(access)), "token_revoked")
    assert_401(anon.post(REFRESH, {"refresh": newest["refresh"]}, format="json"), "token_revoked")


def test_logout_with_an_already_rotated_refresh_token_is_a_reuse(anon, user, api):
    rotated = anon.post(REFRESH, {"refresh": api.tokens["refresh"]}, format="json").json()
    assert_401(api.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "token_revoked")
    assert_401(anon.post(REFRESH, {"refresh": rotated["refresh"]}, format="json"), "token_revoked")
    assert_401(anon.get(ME, **bearer(rotated["access"])), "token_revoked")
