"""An authenticated API request costs one round trip to the shared cache, lifecycle checks included.

Revocation of the token and of its refresh family, the marker saying the cache
holds every revocation, and the user snapshot (active flag and token
generation) are read in one MGET. See also
tests/jobs/api/test_cache.py, where a cached page joins the same round trip.
"""

from __future__ import annotations

import pytest
from django.core.cache import caches
from redis import Redis

ME = "/api/v1/me/"


@pytest.fixture
def commands(monkeypatch):
    if not type(caches["default"]).__module__.startswith("django_redis"):
        pytest.skip("counts Redis commands")
    sent = []
    real = Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", counting)
    return sent


def test_a_warm_authenticated_request_is_one_mget(api, user, commands):
    assert api.get(ME).status_code == 200  # stores the snapshot
    commands.clear()
    assert api.get(ME).status_code == 200
    assert commands == ["MGET"]


def test_the_one_mget_holds_the_token_its_family_and_the_snapshot(api, user, monkeypatch):
    from accounts import user_snapshots
    from tests.accounts.tokens import claims_of

    backend = type(caches["default"])
    real = backend.get_many
    calls = []

    def counting(self, keys, *args, **kwargs):
        calls.append(list(keys))
        return real(self, keys, *args, **kwargs)

    monkeypatch.setattr(backend, "get_many", counting)
    api.get(ME)
    claims = claims_of(api.tokens["access"])
    assert len(calls) == 1
    assert set(calls[0]) == {
        "revoked-jti:" + claims["jti"],
        "revoked-family:" + claims["family"],
        "revocations:warm",
        user_snapshots.key(user.pk),
    }
