"""/healthz and /readyz, with each dependency really down (closed ports, unreachable database)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings

from jobs.beat.lease import Lease
from jobs.beat.partitions import Partitions
from jobs.models import BeatLease
from scheduler_site import health

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_cache_at(url: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        }
    }


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture(autouse=True)
def _broker_up() -> Iterator[None]:
    # The lane's Redis doubles as the broker, so "everything up" is real.
    with override_settings(CELERY_BROKER_URL=REDIS_URL):
        yield


@pytest.fixture
def database_down() -> Iterator[None]:
    """Point the default connection's settings at nothing, for connections opened meanwhile.

    The checks open their own connections in their own threads, so the test's
    connection (and its transaction) is untouched; the settings are restored after.
    """
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-directory/for-readyz-tests/db.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        settings_dict.clear()
        settings_dict.update(saved)


def test_healthz_answers_without_touching_any_dependency(client, database_down):
    with override_settings(CACHES=redis_cache_at(f"redis://127.0.0.1:{closed_port()}/0")):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_all_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert "failed" not in body
    assert set(body["checks"]) == {"database", "cache", "broker"}
    for result in body["checks"].values():
        assert result["status"] == "ok"
        assert isinstance(result["duration_ms"], float)
    assert body["checks"]["cache"]["backend"] == "redis"
    assert body["checks"]["broker"]["transport"] == "redis"
    assert body["checks"]["database"]["beat"] is None  # no beat has run against this database
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db(transaction=True)  # the checks read in threads of their own: the row must be committed
def test_readyz_says_which_beat_is_active(client):
    Lease(holder="host-a:11:aaaaaa").refresh()
    beat = client.get("/readyz").json()["checks"]["database"]["beat"]
    state = BeatLease.objects.get()
    assert beat == {
        "active": "host-a:11:aaaaaa",
        "generation": 1,
        "since": state.acquired_at.isoformat(),
        "renewed_at": state.renewed_at.isoformat(),
    }


def test_readyz_strict_all_up_is_200(client):
    response = client.get("/readyz?strict=1")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("query", ["", "?strict=1"])
def test_database_unreachable_is_503(client, database_down, query):
    response = client.get(f"/readyz{query}")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["database"]["error"]
    assert body["checks"]["cache"]["status"] == "ok"


def test_database_settings_are_restored_after_the_outage_test(client):
    # Runs after the test above in file order: the database answers again.
    assert client.get("/readyz").json()["checks"]["database"]["status"] == "ok"


def test_redis_down_is_degraded_but_ready(client):
    with override_settings(CACHES=redis_cache_at(f"redis://127.0.0.1:{closed_port()}/0")):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["cache"]
    assert body["checks"]["cache"]["status"] == "error"
    assert "onnect" in body["checks"]["cache"]["error"]  # "Connection refused" / "ConnectionInterrupted"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


def test_redis_down_strict_is_503(client):
    with override_settings(CACHES=redis_cache_at(f"redis://127.0.0.1:{closed_port()}/0")):
        response = client.get("/readyz?strict=1")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["cache"]


def test_broker_down_is_degraded_but_ready(client):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["cache"]["status"] == "ok"


def test_broker_down_strict_is_503(client):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response = client.get("/readyz?strict=1")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


def test_redis_and_broker_down_name_both(client):
    port = closed_port()
    with override_settings(
        CACHES=redis_cache_at(f"redis://127.0.0.1:{port}/0"), CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/1"
    ):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["failed"] == ["cache", "broker"]


def test_everything_down_is_503(client, database_down):
    port = closed_port()
    with override_settings(
        CACHES=redis_cache_at(f"redis://127.0.0.1:{port}/0"), CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/1"
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database", "cache", "broker"]


def test_broker_error_never_shows_a_password(client):
    with override_settings(CELERY_BROKER_URL=f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"):
        body = client.get("/readyz").content.decode()
    assert "hunter2" not in body


def _filesystem_broker(base: Path, *, create: bool) -> dict[str, Any]:
    queue, processed = base / "queue", base / "processed"
    if create:
        queue.mkdir(parents=True)
        processed.mkdir()
    return {
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "store_processed": False,
        },
    }


def test_filesystem_broker_is_ready_when_its_folders_exist(client, tmp_path):
    with override_settings(**_filesystem_broker(tmp_path, create=True)):
        body = client.get("/readyz").json()
    broker = body["checks"]["broker"]
    assert (broker["status"], broker["transport"]) == ("ok", "filesystem")


def test_filesystem_broker_without_its_folders_is_degraded(client, tmp_path):
    with override_settings(**_filesystem_broker(tmp_path / "missing", create=False)):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["failed"] == ["broker"]
    assert "does not exist" in body["checks"]["broker"]["error"]


def test_a_hanging_check_is_abandoned_after_the_timeout(client, monkeypatch):
    def hangs(timeout: float) -> dict[str, Any]:
        time.sleep(3)
        return {}

    monkeypatch.setitem(health.CHECKS, "broker", hangs)
    with override_settings(READYZ_TIMEOUT_SECONDS=0.3):
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert elapsed < 2
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"status": "error", "error": "no answer within 0.3 s"}


def test_readyz_needs_no_authentication_and_only_reads(client):
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_readyz_names_each_partitions_holder(client, settings):
    settings.JOBS_BEAT_PARTITIONS = 2
    Partitions(count=2, holder="host-a:11:aaaaaa").refresh()
    beat = client.get("/readyz").json()["checks"]["database"]["beat"]
    assert [(share["partition"], share["active"], share["generation"]) for share in beat["partitions"]] == [
        ("0/2", "host-a:11:aaaaaa", 1),
        ("1/2", "host-a:11:aaaaaa", 1),
    ]
