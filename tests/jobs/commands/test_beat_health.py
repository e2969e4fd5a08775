"""`manage.py beat_health`: the beat container's healthcheck."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.beat.lease import Lease
from jobs.beat.partitions import Partitions
from scheduler_site import metrics


def test_fails_before_the_first_tick():
    with pytest.raises(CommandError, match="has not recorded a tick"):
        call_command("beat_health")


def test_recent_tick_passes_and_names_the_active_beat():
    metrics.record_beat_tick()
    out = io.StringIO()
    call_command("beat_health", stdout=out)
    assert out.getvalue().startswith("beat ticked")
    assert "no beat holds the lease" in out.getvalue()
    Lease(holder="host-a:11:aaaaaa").refresh()
    out = io.StringIO()
    call_command("beat_health", stdout=out)
    assert "active beat host-a:11:aaaaaa (lease generation 1)" in out.getvalue()


def test_old_tick_fails():
    metrics.record_beat_tick(timezone.now() - timedelta(minutes=5))
    with pytest.raises(CommandError, match="more than 60 s"):
        call_command("beat_health")
    call_command("beat_health", "--max-age", "600", stdout=io.StringIO())


def test_unreachable_cache_fails(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with pytest.raises(CommandError, match="unreachable"):
        call_command("beat_health")


def test_names_each_partitions_holder(settings):
    settings.JOBS_BEAT_PARTITIONS = 2
    metrics.record_beat_tick()
    a = Partitions(count=2, holder="host-a:11:aaaaaa")
    a.refresh()
    a.leases[1].release()
    out = io.StringIO()
    call_command("beat_health", stdout=out)
    assert "partitions: 0/2 host-a:11:aaaaaa (generation 1), 1/2 no beat" in out.getvalue()
