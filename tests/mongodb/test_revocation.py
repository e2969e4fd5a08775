"""Durable revocation under MongoDB settings: what a cache that lost its copy, or is unreachable, costs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import RevokedToken
from accounts.tasks import prune_revocations

UNREACHABLE_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_a_request_after_the_cache_lost_its_revocations(mql: Any, api: APIClient) -> None:
    # The token and its family are looked up by `_id`, then the unexpired revocations copied back by expiry.
    cache.clear()
    with mql.path("api.me_revocations_lost"):
        response = api.get("/api/v1/me/")
    assert response.status_code == 200, response.content


def test_a_request_while_the_cache_is_unreachable(mql: Any, api: APIClient) -> None:
    with override_settings(CACHES=UNREACHABLE_CACHES), mql.path("api.me_cache_unreachable"):
        response = api.get("/api/v1/me/")
    assert response.status_code == 200, response.content


def test_a_revoked_token_is_refused_from_the_database_while_the_cache_is_unreachable(api: APIClient) -> None:
    assert api.post("/api/v1/token/logout/", {"refresh": api.tokens["refresh"]}, format="json").status_code == 204
    with override_settings(CACHES=UNREACHABLE_CACHES):
        response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


def test_a_rotation_after_the_cache_lost_the_first_one_is_a_reuse(api: APIClient) -> None:
    refresh = {"refresh": api.tokens["refresh"]}
    assert APIClient().post("/api/v1/token/refresh/", refresh, format="json").status_code == 200
    cache.clear()  # the marker is gone with the rest: the database answers, and is the arbiter
    response = APIClient().post("/api/v1/token/refresh/", refresh, format="json")
    assert response.status_code == 401
    assert RevokedToken.objects.filter(key__startswith="family:").count() == 1


def test_prune_revocations(mql: Any) -> None:
    now = timezone.now()
    RevokedToken.objects.create(key="expired", expires_at=now - timedelta(minutes=1))
    RevokedToken.objects.create(key="live", expires_at=now + timedelta(minutes=1))
    with mql.path("task.prune_revocations"):
        deleted = prune_revocations.apply(throw=True).get()
    assert deleted == 1
    assert list(RevokedToken.objects.values_list("key", flat=True)) == ["live"]
