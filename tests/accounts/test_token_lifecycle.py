"""A password change, a deactivation and a reactivation end every token issued before them.

Each bumps the user's token generation (accounts.models.User.save); a token
carries the generation of its login, and one of an older generation is
refused (401 `token_not_valid`) on every request and on refresh.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from accounts.services import user_deactivate, user_reactivate
from tests.accounts.tokens import assert_401, bearer, forge

ME = "/api/v1/me/"
REFRESH = "/api/v1/token/refresh/"
STALE = "Token was issued before a password change or deactivation; sign in again."
User = get_user_model()


class NewMD5Hasher(MD5PasswordHasher):
    """A cheap stand-in for a new preferred hasher."""

    algorithm = "md5-new"


def assert_tokens_dead(anon: Any, tokens: dict[str, str], code: str = "token_not_valid") -> None:
    error = assert_401(anon.get(ME, **bearer(tokens["access"])), code)
    if code == "token_not_valid":
        assert error["message"] == STALE
    assert_401(anon.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"))


def assert_login_works(login: Any, user: Any) -> None:
    fresh = login(user)
    assert fresh.get(ME).status_code == 200
    assert fresh.post(REFRESH, {"refresh": fresh.tokens["refresh"]}, format="json").status_code == 200


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


# --- password change ----------------------------------------------------------------------------------------


def test_a_password_change_in_the_admin_ends_older_tokens(anon, user, api, login, staff_client):
    assert api.get(ME).status_code == 200  # the user's snapshot is cached: it must not outlive the change
    response = staff_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "N3w-Passw0rd-xyz", "password2": "N3w-Passw0rd-xyz", "usable_password": "true"},
    )
    assert response.status_code == 302
    assert_tokens_dead(anon, api.tokens)
    user.raw_password = "N3w-Passw0rd-xyz"
    assert_login_works(login, user)


def test_disabling_password_login_in_the_admin_ends_older_tokens(anon, user, api, staff_client):
    response = staff_client.post(
        f"/admin/accounts/user/{user.pk}/password/", {"usable_password": "false", "unset-password": "1"}
    )
    assert response.status_code == 302
    assert not User.objects.get(pk=user.pk).has_usable_password()
    assert_tokens_dead(anon, api.tokens)


@pytest.mark.parametrize("update_fields", [None, ["password"]], ids=["save()", "save(update_fields=[password])"])
def test_set_password_and_save_ends_older_tokens(anon, user, api, login, update_fields):
    fresh = User.objects.get(pk=user.pk)
    fresh.set_password("An0ther-Passw0rd")
    fresh.save(update_fields=update_fields)
    assert_tokens_dead(anon, api.tokens)
    user.raw_password = "An0ther-Passw0rd"
    assert_login_works(login, user)


def test_every_token_of_the_user_ends_not_just_one_login(anon, user, login):
    logins = [login(user), login(user)]
    user.set_password("An0ther-Passw0rd")
    user.save()
    for client in logins:
        assert_tokens_dead(anon, client.tokens)


def test_other_saves_end_nothing(anon, user, api):
    user.email = "alice@example.org"
    user.save()
    User.objects.get(pk=user.pk).save()
    assert api.get(ME).status_code == 200


def test_a_password_rehash_at_login_is_no_password_change(anon, user, api, settings):
    # Django re-hashes a password at login when the preferred hasher changes; tokens must survive that
    # (and the token minted by that very login must work).
    settings.PASSWORD_HASHERS = [f"{__name__}.NewMD5Hasher", "django.contrib.auth.hashers.MD5PasswordHasher"]
    old_hash = User.objects.get(pk=user.pk).password
    response = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    assert response.status_code == 200
    assert User.objects.get(pk=user.pk).password != old_hash  # rehashed
    assert anon.get(ME, **bearer(response.json()["access"])).status_code == 200
    assert api.get(ME).status_code == 200


# --- deactivation and reactivation ----------------------------------------------------------------------------


def test_deactivation_ends_older_tokens(anon, user, api, staff):
    user_deactivate(user=user, actor=staff)
    assert_tokens_dead(anon, api.tokens, "user_inactive")


def test_reactivation_does_not_revive_tokens_issued_before_the_deactivation(anon, user, api, login, staff):
    assert api.get(ME).status_code == 200
    user_deactivate(user=user, actor=staff)
    user_reactivate(user=User.objects.get(pk=user.pk), actor=staff)
    assert_tokens_dead(anon, api.tokens)
    assert_login_works(login, user)


def test_reactivation_in_the_admin_does_not_revive_older_tokens(anon, user, api, login, staff, staff_client):
    user_deactivate(user=user, actor=staff)
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(pk=user.pk).is_active
    assert_tokens_dead(anon, api.tokens)
    assert_login_works(login, user)


def test_deactivated_and_reactivated_by_plain_saves(anon, user, api, login):
    # Any save that flips is_active counts, whatever path made it (a shell, a data fix).
    user.is_active = False
    user.save(update_fields=["is_active"])
    user.is_active = True
    user.save()
    assert_tokens_dead(anon, api.tokens)
    assert_login_works(login, user)


def test_a_reactivation_after_refresh_from_db_is_still_seen(anon, user, api, login):
    # The user's flag changed behind this instance's back (QuerySet.update, which no hook sees).
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert_tokens_dead(anon, api.tokens)


def test_with_the_cache_unreachable_a_stale_token_is_still_refused(anon, user, api):
    from django.test import override_settings

    from tests.accounts.test_revocation_store_down import UNREACHABLE_CACHES

    user.set_password("An0ther-Passw0rd")
    user.save()
    with override_settings(CACHES=UNREACHABLE_CACHES):
        error = assert_401(anon.get(ME, **bearer(api.tokens["access"])), "token_not_valid")
    assert error["message"] == STALE


# --- the claim itself ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [{"gen": None}, {"gen": "0"}, {"gen": 0.0}, {"gen": True}, {"gen": -1}, {"gen": [0]}, {"gen": 1}],
    ids=repr,
)
def test_an_access_token_with_a_wrong_or_garbage_generation_is_401(anon, user, claims):
    assert_401(anon.get(ME, **bearer(forge(user, **claims))), "token_not_valid")


@pytest.mark.parametrize("claim", ["gen", "family"])
def test_an_access_token_without_a_lifecycle_claim_is_401(anon, user, claim):
    assert_401(anon.get(ME, **bearer(forge(user, without=[claim]))), "token_not_valid")


@pytest.mark.parametrize("family", [None, 7, "", "x" * 65])
def test_an_access_token_with_a_garbage_family_is_401(anon, user, family):
    assert_401(anon.get(ME, **bearer(forge(user, family=family))), "token_not_valid")


def test_tokens_carry_the_generation_current_at_login(anon, user, login):
    user.set_password("An0ther-Passw0rd")
    user.save()
    user.raw_password = "An0ther-Passw0rd"
    assert User.objects.get(pk=user.pk).token_generation == 1
    assert anon.get(ME, **bearer(forge(user, gen=1))).status_code == 200
    assert_401(anon.get(ME, **bearer(forge(user, gen=0))), "token_not_valid")
