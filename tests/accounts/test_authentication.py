"""Requests with a missing, expired, tampered, forged or otherwise bad access token get 401, never data."""

from __future__ import annotations

import base64
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from tests.accounts.tokens import assert_401, bearer, forge

ME = "/api/v1/me/"


def test_valid_access_token_is_accepted(anon, user, api):
    response = api.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_forged_token_helper_makes_tokens_the_service_accepts(anon, user):
    # The control for every forged-token case below: only the one thing each case changes is wrong.
    assert anon.get(ME, **bearer(forge(user))).status_code == 200


def test_missing_token(anon):
    assert_401(anon.get(ME), "not_authenticated")


def test_empty_bearer_header(anon):
    assert_401(anon.get(ME, HTTP_AUTHORIZATION="Bearer"))


def test_garbage_token(anon):
    assert_401(anon.get(ME, **bearer("not.a.jwt")), "token_not_valid")


def test_expired_token_by_the_clock(anon, user, api):
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES, seconds=1)):
        assert_401(api.get(ME), "token_not_valid")


def test_a_token_accepted_before_is_refused_once_expired_like_any_other(anon, user, api):
    seen = api.tokens["access"]
    unseen = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    assert anon.get(ME, **bearer(seen)).status_code == 200  # verified once, remembered by this process
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES, seconds=1)):
        refused = anon.get(ME, **bearer(seen))
        assert_401(refused, "token_not_valid")
        assert refused.json() == anon.get(ME, **bearer(unseen.json()["access"])).json()


def test_a_tokens_signature_is_checked_once_per_process(anon, user, api, monkeypatch):
    from rest_framework_simplejwt.authentication import JWTAuthentication

    real = JWTAuthentication.get_validated_token
    checks = []

    def counting(self, raw_token):
        checks.append(raw_token)
        return real(self, raw_token)

    monkeypatch.setattr(JWTAuthentication, "get_validated_token", counting)
    token = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    for _ in range(3):
        assert anon.get(ME, **bearer(token.json()["access"])).status_code == 200
    assert len(checks) == 1


def test_token_is_valid_until_just_before_expiry(anon, user, api):
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES, seconds=-5)):
        assert api.get(ME).status_code == 200


def test_expired_token_signed_with_the_real_key(anon, user):
    token = forge(user, exp=1_000_000_000, iat=1_000_000_000 - 3600)
    assert_401(anon.get(ME, **bearer(token)), "token_not_valid")


def test_tampered_signature(anon, user, api):
    header, payload, signature = api.tokens["access"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0xFF
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert_401(anon.get(ME, **bearer(f"{header}.{payload}.{tampered}")), "token_not_valid")


def test_tampered_payload_keeps_old_signature(anon, user, staff, api):
    header, _, signature = api.tokens["access"].split(".")
    claims = jwt.decode(api.tokens["access"], options={"verify_signature": False})
    claims["user_id"] = str(staff.pk)
    forged_payload = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256").split(".")[1]
    response = anon.get(ME, **bearer(f"{header}.{forged_payload}.{signature}"))
    assert_401(response, "token_not_valid")
    assert "root" not in response.content.decode()


def test_token_signed_with_another_key(anon, user):
    assert_401(anon.get(ME, **bearer(forge(user, key="another-key-" + "x" * 64))), "token_not_valid")


def test_alg_none_token(anon, user):
    token = forge(user, algorithm="none")
    assert jwt.get_unverified_header(token)["alg"] == "none"
    assert_401(anon.get(ME, **bearer(token)), "token_not_valid")


def test_alg_none_with_signature_stripped_from_a_real_token(anon, user, api):
    _, payload, _ = api.tokens["access"].split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert_401(anon.get(ME, **bearer(f"{header}.{payload}.")), "token_not_valid")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_signed_with_another_algorithm_than_configured(anon, user):
    other = "HS512" if settings.ALGORITHM != "HS512" else "HS256"
    assert_401(anon.get(ME, **bearer(forge(user, algorithm=other))), "token_not_valid")


def test_refresh_token_used_as_access_token(anon, user, api):
    assert_401(anon.get(ME, **bearer(api.tokens["refresh"])), "token_not_valid")


def test_token_without_user_claim(anon, user):
    token = jwt.encode(
        {k: v for k, v in jwt.decode(forge(user), options={"verify_signature": False}).items() if k != "user_id"},
        settings.SECRET_KEY,
        algorithm=settings.ALGORITHM,
    )
    assert_401(anon.get(ME, **bearer(token)))


def test_deactivated_user_is_rejected_on_the_next_request(anon, user, api):
    assert api.get(ME).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = api.get(ME)
    assert_401(response, "user_inactive")
    assert "alice" not in response.content.decode()


def test_deleted_user_is_rejected(anon, user, api):
    user.delete()
    assert_401(api.get(ME), "user_not_found")


def test_session_authentication_still_works_for_the_admin(client, staff):
    # Session auth comes second, for the admin's own calls.
    client.force_login(staff)
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["is_staff"] is True


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "tomorrow"},
        {"exp": [1]},
        {"exp": 10**30},
        {"iat": "now"},
        {"user_id": "not-a-uuid"},
        {"user_id": 12345},
        {"user_id": {"id": 1}},
        {"user_id": ""},
    ],
    ids=repr,
)
def test_a_signed_token_with_malformed_claims_is_401_not_400_or_500(anon, user, claims):
    # Signed with the real key: only the claim's type is wrong.
    assert_401(anon.get(ME, **bearer(forge(user, **claims))))
