"""POST /api/v1/token/refresh/: a live refresh token in, a new access token and a rotated refresh token out.

An already-rotated refresh token presented again revokes its whole family
(the login's every refresh and access token), whoever presents it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from tests.accounts.tokens import assert_401, bearer, claims_of, forge

URL = "/api/v1/token/refresh/"
ME = "/api/v1/me/"


def refresh(client, token):
    return client.post(URL, {"refresh": token}, format="json")


def test_refresh_returns_a_working_access_token_and_a_rotated_refresh_token(anon, user, api):
    response = refresh(anon, api.tokens["refresh"])
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    access, new = claims_of(response.json()["access"]), claims_of(response.json()["refresh"])
    old = claims_of(api.tokens["refresh"])
    assert access["user_id"] == new["user_id"] == str(user.pk)
    assert access["exp"] - access["iat"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    assert new["exp"] - new["iat"] == settings.REFRESH_TOKEN_EXPIRE_MINUTES * 60
    assert new["token_type"] == "refresh" and new["jti"] != old["jti"]
    # The same login: its family (the first refresh token's id) and the user's token generation.
    assert access["family"] == new["family"] == old["family"] == old["jti"]
    assert access["gen"] == new["gen"] == old["gen"] == user.token_generation
    assert anon.get(ME, **bearer(response.json()["access"])).status_code == 200


def test_the_rotated_refresh_token_refreshes_in_turn(anon, user, api):
    token = api.tokens["refresh"]
    for _ in range(3):
        response = refresh(anon, token)
        assert response.status_code == 200
        token = response.json()["refresh"]


def test_a_rotated_refresh_token_is_refused_and_its_reuse_revokes_the_family(anon, user, api):
    first = refresh(anon, api.tokens["refresh"]).json()
    second = refresh(anon, first["refresh"]).json()

    # The stolen copy of the original comes back: refused, and the whole login ends.
    assert_401(refresh(anon, api.tokens["refresh"]), "token_revoked")
    assert_401(refresh(anon, second["refresh"]), "token_revoked")  # the newest refresh token too
    for access in (api.tokens["access"], first["access"], second["access"]):
        assert_401(anon.get(ME, **bearer(access)), "token_revoked")


def test_reuse_ends_only_that_login(anon, user, api, login):
    other = login(user)
    assert refresh(anon, api.tokens["refresh"]).status_code == 200
    assert_401(refresh(anon, api.tokens["refresh"]), "token_revoked")
    assert other.get(ME).status_code == 200
    assert refresh(anon, other.tokens["refresh"]).status_code == 200


def test_a_family_revoked_on_reuse_stays_revoked_while_any_of_its_refresh_tokens_can_live(anon, user, api):
    from django.core.cache import cache

    if not hasattr(cache, "ttl"):
        pytest.skip("the cache backend does not report expiry times")
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.REFRESH_TOKEN_EXPIRE_MINUTES / 2)):
        newest = refresh(anon, api.tokens["refresh"]).json()  # lives a full lifetime from now
        assert_401(refresh(anon, api.tokens["refresh"]), "token_revoked")
        family = claims_of(newest["refresh"])["family"]
    lifetime = settings.REFRESH_TOKEN_EXPIRE_MINUTES * 60
    assert lifetime - 5 <= cache.ttl("revoked-family:" + family) <= lifetime + 2


def test_of_two_refreshes_racing_with_one_token_only_one_gets_a_pair(anon, user, api, monkeypatch):
    # The second request passed the revocation check before the first revoked the token.
    from accounts import revocation, services

    real = revocation.revocation_of
    monkeypatch.setattr(services, "revocation_of", lambda jti, family: (False, False))
    assert refresh(anon, api.tokens["refresh"]).status_code == 200
    assert_401(refresh(anon, api.tokens["refresh"]), "token_revoked")
    monkeypatch.setattr(services, "revocation_of", real)
    assert_401(anon.get(ME, **bearer(api.tokens["access"])), "token_revoked")


@pytest.mark.parametrize(
    "claims",
    [{"gen": None}, {"gen": "0"}, {"gen": 0.0}, {"gen": True}, {"gen": -1}, {"family": None}, {"family": 7}],
    ids=repr,
)
def test_a_refresh_token_with_a_malformed_lifecycle_claim_is_401(anon, user, claims):
    assert_401(refresh(anon, forge(user, token_type="refresh", **claims)), "token_not_valid")


@pytest.mark.parametrize("claim", ["gen", "family"])
def test_a_refresh_token_without_a_lifecycle_claim_is_401(anon, user, claim):
    # Tokens minted before generations and families existed, among others.
    assert_401(refresh(anon, forge(user, token_type="refresh", without=[claim])), "token_not_valid")


def test_a_forged_refresh_token_with_the_right_claims_is_accepted(anon, user):
    # The control for the case above.
    assert refresh(anon, forge(user, token_type="refresh")).status_code == 200


def test_access_token_is_not_a_refresh_token(anon, user, api):
    assert_401(anon.post(URL, {"refresh": api.tokens["access"]}, format="json"), "token_not_valid")


def test_garbage(anon, db):
    assert_401(anon.post(URL, {"refresh": "not.a.jwt"}, format="json"), "token_not_valid")


def test_alg_none_refresh_token(anon, user):
    token = forge(user, algorithm="none", token_type="refresh")
    assert_401(anon.post(URL, {"refresh": token}, format="json"), "token_not_valid")


def test_refresh_token_signed_with_another_key(anon, user):
    token = forge(user, key="another-key-" + "x" * 64, token_type="refresh")
    assert_401(anon.post(URL, {"refresh": token}, format="json"), "token_not_valid")


def test_expired_refresh_token(anon, user, api):
    later = timezone.now() + timedelta(minutes=settings.REFRESH_TOKEN_EXPIRE_MINUTES, seconds=1)
    with time_machine.travel(later):
        assert_401(anon.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "token_not_valid")


def test_deactivated_user(anon, user, api):
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_401(anon.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "user_inactive")


def test_deleted_user(anon, user, api):
    user.delete()
    assert_401(anon.post(URL, {"refresh": api.tokens["refresh"]}, format="json"), "user_inactive")


def test_missing_field(anon, db):
    response = anon.post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"refresh": ["This field is required."]}
