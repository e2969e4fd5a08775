"""POST /api/v1/token/: username and password in, an access and a refresh token out."""

from __future__ import annotations

import json

import jwt

from tests.accounts.tokens import assert_401, claims_of
from tests.processes import clean_env, run_python

URL = "/api/v1/token/"


def test_returns_access_and_refresh_tokens(anon, user):
    response = anon.post(URL, {"username": "alice", "password": user.raw_password}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_access_token_lives_access_token_expire_minutes(anon, user, settings):
    response = anon.post(URL, {"username": "alice", "password": user.raw_password}, format="json")
    access = response.json()["access"]
    assert jwt.get_unverified_header(access)["alg"] == settings.ALGORITHM == "HS256"
    claims = claims_of(access)
    assert claims["exp"] - claims["iat"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60 == 3600
    assert claims["token_type"] == "access"
    assert claims["user_id"] == str(user.pk)


def test_refresh_token_lives_refresh_token_expire_minutes(anon, user, settings):
    response = anon.post(URL, {"username": "alice", "password": user.raw_password}, format="json")
    claims = claims_of(response.json()["refresh"])
    assert claims["token_type"] == "refresh"
    assert claims["exp"] - claims["iat"] == settings.REFRESH_TOKEN_EXPIRE_MINUTES * 60


def test_wrong_password(anon, user):
    response = anon.post(URL, {"username": "alice", "password": "wrong"}, format="json")
    error = assert_401(response, "no_active_account")
    assert error["message"] == "Invalid username or password."


def test_unknown_user_gets_the_same_answer(anon, db):
    response = anon.post(URL, {"username": "nobody", "password": "wrong"}, format="json")
    assert assert_401(response, "no_active_account")["message"] == "Invalid username or password."


def test_deactivated_user_cannot_log_in(anon, user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = anon.post(URL, {"username": "alice", "password": user.raw_password}, format="json")
    assert_401(response, "no_active_account")


# Simple JWT reads its settings once, at import: a non-default lifetime and
# algorithm are checked in a process started with them in its environment.
OBTAIN_IN_FRESH_PROCESS = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.services import user_create
user_create(username="demo", password="demo-password-123")
from django.test import Client
response = Client(HTTP_HOST="localhost").post(
    "/api/v1/token/", {"username": "demo", "password": "demo-password-123"}, content_type="application/json"
)
print(json.dumps({"status": response.status_code, **response.json()}))
"""


def test_lifetime_and_algorithm_come_from_the_environment(tmp_path):
    secret = "lifetime-test-secret-key-" + "0123456789" * 7
    env = clean_env(
        SECRET_KEY=secret,
        ACCESS_TOKEN_EXPIRE_MINUTES="5",
        ALGORITHM="HS512",
        DATABASE_URL="sqlite://:memory:",
        BROKER_DIR=str(tmp_path / "broker"),
    )
    result = run_python(OBTAIN_IN_FRESH_PROCESS, env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["status"] == 200
    assert jwt.get_unverified_header(body["access"])["alg"] == "HS512"
    claims = jwt.decode(body["access"], secret, algorithms=["HS512"])
    # simplejwt dates the access token's `exp` from the refresh token's creation and its `iat` from its
    # own, a moment later: across a second boundary (a loaded machine) the two are 299 s apart.
    assert 5 * 60 - 1 <= claims["exp"] - claims["iat"] <= 5 * 60
