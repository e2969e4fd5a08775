"""POST /api/v1/token/refresh/: a live refresh token in, a new access token out."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.conf import settings
from django.utils import timezone

from tests.accounts.tokens import assert_401, bearer, claims_of, forge

URL = "/api/v1/token/refresh/"


def test_refresh_returns_a_working_access_token(anon, user, api):
    response = anon.post(URL, {"refresh": api.tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"access"}
    access = response.json()["access"]
    claims = claims_of(access)
    assert claims["user_id"] == str(user.pk)
    assert claims["exp"] - claims["iat"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    assert anon.get("/api/v1/me/", **bearer(access)).status_code == 200


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
