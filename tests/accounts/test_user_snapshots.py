"""Authenticated requests read the user from a snapshot in the shared cache, never a stale one."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings

from accounts import user_snapshots
from accounts.services import user_deactivate
from tests.accounts.test_revocation_store_down import UNREACHABLE_CACHES
from tests.accounts.tokens import assert_401

ME = "/api/v1/me/"


def test_a_warm_request_reads_no_user_row(api, user, django_assert_num_queries):
    assert api.get(ME).status_code == 200  # stores the snapshot
    assert cache.get(user_snapshots.key(user.pk))["username"] == "alice"
    with django_assert_num_queries(0):
        response = api.get(ME)
    assert response.json()["username"] == "alice"


def test_the_snapshot_holds_no_password_hash(api, user):
    api.get(ME)
    assert "password" not in cache.get(user_snapshots.key(user.pk))


def test_deactivation_drops_the_snapshot_and_the_next_request_is_401(api, user, staff):
    api.get(ME)
    user_deactivate(user=user, actor=staff)
    assert cache.get(user_snapshots.key(user.pk)) is None
    assert_401(api.get(ME))


def test_any_orm_save_drops_the_snapshot(api, user):
    api.get(ME)
    fresh = get_user_model().objects.get(pk=user.pk)
    fresh.is_staff = True
    fresh.save()
    assert cache.get(user_snapshots.key(user.pk)) is None
    assert api.get(ME).json()["is_staff"] is True


def test_with_the_cache_unreachable_the_user_row_is_read_and_deactivation_honoured(api, user):
    api.get(ME)
    with override_settings(CACHES=UNREACHABLE_CACHES):
        assert api.get(ME).status_code == 200
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        assert_401(api.get(ME))
