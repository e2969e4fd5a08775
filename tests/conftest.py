"""Shared fixtures. Tests talk to the real Redis and database the lane configures."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    # The default PBKDF2 hasher costs ~0.25 s per login; tests are about tokens
    # and jobs, not hashing (process-level tests still run the real hasher).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Admin and API-docs pages render without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _clean_cache(db: Any) -> None:
    # Each lane owns its Redis database (or the SQLite cache table): start every test empty, but for the
    # copy of the (still empty) revocations a running service's cache holds, so a test's first request is
    # the ordinary one. tests/accounts/test_durable_revocation.py clears it to test a cache that lost it.
    from accounts import revocation

    cache.clear()
    assert revocation.warm()


@dataclass
class Sent:
    """Messages the code under test published, recorded as they went out to the lane's real broker.

    `slots` (run_job messages) and `runs` (execute_run messages) hold
    `(run, countdown, published at)`.
    """

    slots: list[tuple[Any, float, datetime]] = field(default_factory=list)
    runs: list[tuple[Any, float, datetime]] = field(default_factory=list)
    run_list: list[Any] = field(default_factory=list)

    def slot_times(self, job: Any) -> list[datetime]:
        return [run.scheduled_for for run, _, _ in self.slots if run.job_id == job.pk]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Everything published, really published (to the lane's broker), and recorded here."""
    from django.conf import settings

    from jobs.execution import dispatch

    record = Sent()
    real_publish = dispatch.publish

    def spy(messages: Any) -> Any:
        at = timezone.now()
        for message in messages:
            if message.task == dispatch.RUN_SLOT_TASK:
                record.slots.append((message.run, message.countdown, at))
            else:
                record.runs.append((message.run, message.countdown, at))
                record.run_list.append(message.run)
        return real_publish(messages)

    monkeypatch.setattr(dispatch, "publish", spy)
    yield record
    if settings.CELERY_BROKER_URL.startswith("redis"):
        # Nobody consumes these: leave the lane's queue as it was found.
        with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
            client.delete("celery")


@pytest.fixture
def sent_runs(sent: Sent) -> list[Any]:
    """Runs handed to the workers by id (manual, retry, catch-up): really published, and recorded here."""
    return sent.run_list


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from accounts.services import user_create

    def make(username: str | None = None, *, password: str = "s3cret-Passw0rd", is_staff: bool = False) -> Any:
        name = username or f"user{next(_counter)}"
        user = user_create(username=name, email=f"{name}@example.com", password=password, is_staff=is_staff)
        user.raw_password = password
        return user

    return make


@pytest.fixture
def user(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    return make_user("root", is_staff=True)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def tokens_for(user: Any) -> dict[str, str]:
    client = APIClient()
    response = client.post("/api/v1/token/", {"username": user.username, "password": user.raw_password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def login() -> Callable[[Any], APIClient]:
    """An API client carrying a fresh JWT access token for `user`."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        client.tokens = tokens_for(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}")
        return client

    return make


@pytest.fixture
def api(user: Any, login: Callable[[Any], APIClient]) -> APIClient:
    return login(user)


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    """The egress policy allows 127.0.0.1 (tests call local servers; the service's own ports stay refused)."""
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def private_redis(settings: Any, tmp_path: Any) -> Iterator[Any]:
    """A redis-server of the test's own (tests.redis_server), with the cache pointed at it; stopped after."""
    import shutil

    from tests.redis_server import PrivateRedis, caches_at

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = caches_at(server.url)  # Django's setting_changed handler rebuilds `caches`
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.thaw()  # a frozen server would not die on SIGKILL's wait otherwise
        server.stop()
