"""No stale read after a write across two gunicorn workers sharing the lane's Redis and database.

A cached list/detail is keyed by its owner's version in Redis; a write through
one worker bumps it, so every worker misses on its next read. Each request uses
a fresh TCP connection, so the kernel hands it to either worker; the access log
records the worker's pid and the test insists both workers answered.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.processes import ROOT, Server, clean_env, gunicorn_server, lane_database

PASSWORD = "gunicorn-cache-test-password-1"
CREATE_USER = (
    "from accounts.services import user_create; "
    f"user_create(username='carol', email='carol@example.com', password='{PASSWORD}')"
)
STARTUP_SECONDS = 30


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> None:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"


@pytest.fixture
def database_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The lane's database for the server: a tmp SQLite file, or a throwaway PostgreSQL database."""
    with lane_database(tmp_path, prefix="gunicorn_cache") as database:
        yield database


@pytest.fixture
def server(tmp_path: Path, database_env: dict[str, str]) -> Iterator[Server]:
    env = clean_env(
        SECRET_KEY="gunicorn-cache-test-secret-key-" + "x" * 40,
        DEBUG="false",
        REDIS_URL=settings.REDIS_URL,  # the lane's Redis, under its own key prefix
        CACHE_KEY_PREFIX=f"gunicorn-test-{uuid.uuid4().hex[:8]}",
        STATIC_ROOT=str(tmp_path / "static"),
        BROKER_DIR=str(tmp_path / "broker"),
        LOG_LEVEL="WARNING",
        **database_env,
    )
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env)
    _run([sys.executable, "manage.py", "shell", "-c", CREATE_USER], env)

    with gunicorn_server(env, tmp_path, startup_seconds=STARTUP_SECONDS) as running:
        yield running


def until_both_workers_answer(server: Server, send: Callable[[], Any], path: str, *, at_least: int) -> list[Any]:
    """Send requests (each on a fresh connection) until `at_least` were sent and both workers answered `path`."""
    results: list[Any] = []
    start = len(server.log_lines())
    while True:
        results.append(send())
        pids = {pid for pid, method, logged, _ in server.log_lines()[start:] if method == "GET" and logged == path}
        if len(results) >= at_least and len(pids) >= 2:
            return results
        assert len(results) < 200, "every request landed on one worker"


def test_a_write_through_one_worker_is_seen_by_every_worker_at_once(server: Server):
    status, _, tokens = server.request("POST", "/api/v1/token/", {"username": "carol", "password": PASSWORD})
    assert status == 200, tokens
    token = tokens["access"]
    job = {
        "name": "before",
        "schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
        "action": {"type": "task", "task": "echo"},
    }
    status, _, created = server.request("POST", "/api/v1/jobs/", job, token)
    assert status == 201, created
    list_path, detail_path = "/api/v1/jobs/", f"/api/v1/jobs/{created['id']}/"

    def names() -> tuple[int, str, tuple[str, ...]]:
        status, headers, body = server.request("GET", list_path, token=token)
        return status, headers.get("X-Cache"), tuple(item["name"] for item in body["results"])

    def detail() -> tuple[int, str, str]:
        status, headers, body = server.request("GET", detail_path, token=token)
        return status, headers.get("X-Cache"), body["name"]

    # Warm: a miss, then hits served by both workers from the shared cache.
    assert names() == (200, "miss", ("before",))
    assert names() == (200, "hit", ("before",))
    warm = until_both_workers_answer(server, names, list_path, at_least=4)
    assert set(warm) == {(200, "hit", ("before",))}
    assert detail() == (200, "miss", "before")
    until_both_workers_answer(server, detail, detail_path, at_least=4)

    # Write through a new connection (whichever worker takes it).
    status, _, patched = server.request("PATCH", detail_path, {"name": "after"}, token)
    assert status == 200, patched

    # Every later read, on either worker, shows the write: the first misses, the rest hit the new entry.
    lists = until_both_workers_answer(server, names, list_path, at_least=20)
    assert {(status, listed) for status, _, listed in lists} == {(200, ("after",))}
    assert lists[0][1] == "miss"
    details = until_both_workers_answer(server, detail, detail_path, at_least=20)
    assert all(status == 200 and name == "after" for status, _, name in details)
    assert details[0][1] == "miss"
    served_by = {pid for pid, _, path, _ in server.log_lines() if path in (list_path, detail_path)}
    assert len(served_by) == 2
