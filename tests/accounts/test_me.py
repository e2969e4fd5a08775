"""GET /api/v1/me/: who the presented token belongs to."""

from __future__ import annotations

import jsonschema
import yaml

from tests.accounts.tokens import assert_401


def test_shows_the_signed_in_user(user, api):
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"id": str(user.pk), "username": "alice", "email": "alice@example.com", "is_staff": False}


def test_staff_flag(staff, login):
    assert login(staff).get("/api/v1/me/").json()["is_staff"] is True


def test_requires_authentication(anon):
    assert_401(anon.get("/api/v1/me/"), "not_authenticated")


def test_is_read_only(api):
    response = api.post("/api/v1/me/", {"username": "mallory"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_user_without_an_email_shows_an_empty_one_which_the_schema_allows(make_user, login, anon):
    user = make_user("noemail")
    user.email = ""
    user.save(update_fields=["email"])
    body = login(user).get("/api/v1/me/").json()
    assert body["email"] == ""
    documented = yaml.safe_load(anon.get("/api/schema/").content)["components"]["schemas"]["Me"]["properties"]["email"]
    checker = jsonschema.FormatChecker()
    assert jsonschema.Draft202012Validator(documented, format_checker=checker).is_valid("")
    assert jsonschema.Draft202012Validator(documented, format_checker=checker).is_valid("a@example.com")
    assert not jsonschema.Draft202012Validator(documented, format_checker=checker).is_valid("not an email")
