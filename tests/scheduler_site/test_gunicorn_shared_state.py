"""Two gunicorn workers on the embedded default (SQLite file, database cache, no Redis) agree on
revoked tokens and login throttle counters, because both live in the cache every process shares.

Every request goes over a fresh TCP connection, so the kernel hands it to either worker; the access
log records the worker's pid, and the test insists both workers answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.processes import Server, clean_env, gunicorn_server, manage

pytestmark = pytest.mark.e2e

PASSWORD = "gunicorn-test-password-1"
CREATE_USER = (
    "from accounts.services import user_create; "
    f"user_create(username='alice', email='alice@example.com', password='{PASSWORD}')"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = clean_env(
        SECRET_KEY="gunicorn-test-secret-key-" + "x" * 40,
        DEBUG="false",
        SQLITE_PATH=str(tmp / "db.sqlite3"),
        STATIC_ROOT=str(tmp / "static"),
        BROKER_DIR=str(tmp / "broker"),
        LOGIN_FAILURES_PER_PAIR="3",
        LOG_LEVEL="WARNING",
    )
    # No REDIS_URL, DATABASE_URL or MONGODB_URI: the embedded default.
    migrated = manage("migrate", "--noinput", "-v0", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    created = manage("shell", "-c", CREATE_USER, env=env)
    assert created.returncode == 0, created.stderr

    with gunicorn_server(env, tmp) as running:
        yield running


def worker_pids(server: Server, path: str, status: int) -> set[str]:
    """The pids of the workers that answered `path` with `status`, per the access log."""
    return {pid for pid, _, logged, code in server.log_lines() if logged == path and code == status}


def requests_until_both_workers_answer(server: Server, send, path: str, status: int, *, minimum: int = 20) -> list:
    """Send at least `minimum` requests, in small parallel bursts, until both workers answered some."""
    results = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(results) < minimum or len(worker_pids(server, path, status)) < 2:
            assert len(results) < 400, "all requests landed on one worker"
            results.extend(pool.map(lambda _: send(), range(4)))
    return results


def test_two_workers_share_revocation_and_throttle_state(server: Server):
    # -- revocation: log out through one connection, every worker then refuses both tokens
    status, _, tokens = server.request("POST", "/api/v1/token/", {"username": "alice", "password": PASSWORD})
    assert status == 200, tokens
    assert server.request("GET", "/api/v1/me/", token=tokens["access"])[0] == 200

    status, _, body = server.request(
        "POST", "/api/v1/token/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"]
    )
    assert status == 204, body

    answers = requests_until_both_workers_answer(
        server, lambda: server.request("GET", "/api/v1/me/", token=tokens["access"]), "/api/v1/me/", 401
    )
    assert {status for status, _, _ in answers} == {401}
    assert {body["error"]["code"] for _, _, body in answers} == {"token_revoked"}

    answers = requests_until_both_workers_answer(
        server,
        lambda: server.request("POST", "/api/v1/token/refresh/", {"refresh": tokens["refresh"]}),
        "/api/v1/token/refresh/",
        401,
    )
    assert {status for status, _, _ in answers} == {401}
    assert {body["error"]["code"] for _, _, body in answers} == {"token_revoked"}

    # -- throttle: LOGIN_FAILURES_PER_PAIR=3 counts failures on every worker together
    attempt = {"username": "mallory", "password": "wrong"}
    for _ in range(3):
        status, _, body = server.request("POST", "/api/v1/token/", attempt)
        assert status == 401, body
    answers = requests_until_both_workers_answer(
        server, lambda: server.request("POST", "/api/v1/token/", attempt), "/api/v1/token/", 429
    )
    assert {status for status, _, _ in answers} == {429}
    assert all(int(headers["Retry-After"]) > 0 for _, headers, _ in answers)
    assert {body["error"]["code"] for _, _, body in answers} == {"throttled"}
