"""Revocations are kept in the database: a cache flushed, restarted empty, stalled or stopped revives nothing.

The cache is the lane's Redis (flushed) or a redis-server of the test's own,
restarted empty, frozen and stopped by its PID.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import revocation
from accounts.models import RevokedToken
from accounts.tasks import prune_revocations
from tests.accounts.tokens import assert_401, bearer, claims_of
from tests.redis_server import PrivateRedis

ME = "/api/v1/me/"
LOGOUT = "/api/v1/token/logout/"
REFRESH = "/api/v1/token/refresh/"


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def logged_out(client: APIClient) -> APIClient:
    assert client.post(LOGOUT, {"refresh": client.tokens["refresh"]}, format="json").status_code == 204
    return client


def restart_empty(server: PrivateRedis) -> None:
    server.stop()
    server.start()
    assert cache.get(revocation.WARM_KEY) is None


# --- what is written -------------------------------------------------------------------------


def test_logout_writes_the_family_and_both_tokens_to_the_database(api):
    logged_out(api)
    access, refresh_claims = claims_of(api.tokens["access"]), claims_of(api.tokens["refresh"])
    rows = dict(RevokedToken.objects.values_list("key", "expires_at"))
    assert set(rows) == {access["jti"], refresh_claims["jti"], "family:" + refresh_claims["family"]}
    assert int(rows[access["jti"]].timestamp()) == access["exp"]
    lifetime = settings.REFRESH_TOKEN_EXPIRE_MINUTES * 60
    assert abs(rows["family:" + refresh_claims["family"]].timestamp() - (timezone.now().timestamp() + lifetime)) < 5


def test_a_rotation_writes_the_old_refresh_token(api):
    assert refresh(api.tokens["refresh"]).status_code == 200
    assert RevokedToken.objects.filter(key=claims_of(api.tokens["refresh"])["jti"]).exists()


# --- the cache flushed -----------------------------------------------------------------------


def test_a_revoked_access_token_stays_revoked_after_a_flush(api):
    logged_out(api)
    cache.clear()
    assert_401(api.get(ME), "token_revoked")


def test_a_revoked_family_stays_revoked_after_a_flush(api, user, login):
    newest = refresh(api.tokens["refresh"]).json()
    assert_401(refresh(api.tokens["refresh"]), "token_revoked")  # a reuse: the family ends
    cache.clear()
    assert_401(refresh(newest["refresh"]), "token_revoked")
    assert_401(APIClient().get(ME, **bearer(newest["access"])), "token_revoked")


def test_after_a_flush_one_request_copies_the_revocations_back(api, user, login):
    logged_out(api)
    other = login(user)
    cache.clear()
    assert other.get(ME).status_code == 200
    # The marker and the revocations are back: the cache alone answers again.
    assert cache.get(revocation.WARM_KEY) is not None
    claims = claims_of(api.tokens["access"])
    assert cache.get(revocation.revoked_key(claims["jti"])) is not None
    assert cache.get(revocation.revoked_family_key(claims["family"])) is not None
    assert_401(api.get(ME), "token_revoked")


def test_the_copy_leaves_out_expired_revocations_and_outlives_none_by_much(db):
    now = timezone.now()
    RevokedToken.objects.create(key="expired", expires_at=now - timedelta(seconds=1))
    RevokedToken.objects.create(key="soon", expires_at=now + timedelta(seconds=30))
    RevokedToken.objects.create(key="family:later", expires_at=now + timedelta(hours=2))
    assert revocation.warm()
    assert cache.get(revocation.revoked_key("expired")) is None
    assert cache.get(revocation.revoked_key("soon")) == 1
    assert cache.get(revocation.revoked_family_key("later")) == 1
    if hasattr(cache, "ttl"):
        assert 0 < cache.ttl(revocation.revoked_key("soon")) <= 32
        assert 7100 < cache.ttl(revocation.revoked_family_key("later")) <= 7202


def test_only_one_process_copies_at_a_time(db):
    cache.clear()
    assert cache.add("revocations:warming", "someone else", timeout=60)
    assert not revocation.warm()
    assert cache.get(revocation.WARM_KEY) is None


def test_a_rotation_race_with_a_flush_between_the_two_refreshes_has_one_winner(api, monkeypatch):
    # The second request passed the revocation check before the first revoked the token, and the cache
    # lost the first one's entry meanwhile: its atomic add succeeds too, and the database insert decides.
    from accounts import services

    real = revocation.revocation_of
    monkeypatch.setattr(services, "revocation_of", lambda jti, family: (False, False))
    first = refresh(api.tokens["refresh"])
    assert first.status_code == 200
    cache.clear()
    assert_401(refresh(api.tokens["refresh"]), "token_revoked")
    monkeypatch.setattr(services, "revocation_of", real)
    # The reuse revoked the family: the winner's new pair ends too.
    assert_401(refresh(first.json()["refresh"]), "token_revoked")
    assert_401(APIClient().get(ME, **bearer(first.json()["access"])), "token_revoked")


def test_a_rotated_token_used_again_after_a_flush_is_a_reuse(api):
    newest = refresh(api.tokens["refresh"]).json()
    cache.clear()
    assert_401(refresh(api.tokens["refresh"]), "token_revoked")
    assert_401(refresh(newest["refresh"]), "token_revoked")


# --- a redis-server restarted empty, stalled, stopped ----------------------------------------


def test_revocations_survive_a_redis_restarted_empty(private_redis, user, login):
    client = login(user)
    newest = refresh(client.tokens["refresh"]).json()
    client.credentials(**bearer(newest["access"]))
    client.tokens = newest
    logged_out(client)
    restart_empty(private_redis)
    assert_401(client.get(ME), "token_revoked")
    assert_401(refresh(newest["refresh"]), "token_revoked")


def test_a_live_token_works_after_a_redis_restarted_empty(private_redis, user, login):
    client = login(user)
    restart_empty(private_redis)
    assert client.get(ME).status_code == 200
    assert refresh(client.tokens["refresh"]).status_code == 200


def test_while_redis_is_stopped_a_revoked_token_is_refused_and_a_live_one_accepted(private_redis, user, login, caplog):
    revoked, live = logged_out(login(user)), login(user)
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="accounts.authentication"):
        assert_401(revoked.get(ME), "token_revoked")
        assert live.get(ME).status_code == 200
    assert any("checked against the database" in record.getMessage() for record in caplog.records)


def test_while_redis_is_stalled_a_revoked_token_is_refused_and_a_live_one_accepted(private_redis, user, login):
    revoked, live = logged_out(login(user)), login(user)
    private_redis.freeze()
    try:
        assert_401(revoked.get(ME), "token_revoked")
        assert live.get(ME).status_code == 200
    finally:
        private_redis.thaw()


def test_refresh_and_logout_need_the_cache_and_write_nothing_without_it(private_redis, user, login):
    # Fail closed: a revocation only the database held would be missed by a Redis that comes back with
    # its data and its marker (see accounts.revocation).
    client = login(user)
    private_redis.stop()
    assert refresh(client.tokens["refresh"]).status_code == 503
    assert client.post(LOGOUT, {"refresh": client.tokens["refresh"]}, format="json").status_code == 503
    assert not RevokedToken.objects.exists()


# --- expiry ----------------------------------------------------------------------------------


def test_the_prune_deletes_expired_revocations_only(db):
    now = timezone.now()
    RevokedToken.objects.create(key="expired", expires_at=now - timedelta(seconds=1))
    RevokedToken.objects.create(key="live", expires_at=now + timedelta(minutes=5))
    assert prune_revocations.apply(throw=True).get() == 1
    assert list(RevokedToken.objects.values_list("key", flat=True)) == ["live"]


def test_the_prune_is_a_system_task_beat_runs_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["system:prune-revocations"]
    assert entry["task"] == prune_revocations.name == "accounts.prune_revocations"
    assert entry["schedule"] == timedelta(hours=1)
