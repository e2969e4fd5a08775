"""Two gunicorn workers on the embedded default (SQLite file, database cache, no Redis) agree on
revoked tokens and login throttle counters, because both live in the cache every process shares.

Every request goes over a fresh TCP connection, so the kernel hands it to either worker; the access
log records the worker's pid, and the test insists both workers answered.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scheduler_site.processes import PYTHON, ROOT, clean_env, manage

pytestmark = pytest.mark.e2e

PASSWORD = "gunicorn-test-password-1"
CREATE_USER = (
    "from accounts.services import user_create; "
    f"user_create(username='alice', email='alice@example.com', password='{PASSWORD}')"
)


@dataclass
class Server:
    port: int
    access_log: Path

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        """One request on a new connection; returns (status, headers, json body)."""
        headers = {"Connection": "close", "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
        finally:
            connection.close()

    def worker_pids(self, path: str, status: int) -> set[str]:
        """The pids of the workers that answered `path` with `status`, per the access log."""
        pids = set()
        for line in self.access_log.read_text().splitlines():
            pid, logged_path, logged_status = line.split()
            if logged_path == path and int(logged_status) == status:
                pids.add(pid)
        return pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = clean_env(
        SECRET_KEY="gunicorn-test-secret-key-" + "x" * 40,
        DEBUG="false",
        SQLITE_PATH=str(tmp / "db.sqlite3"),
        STATIC_ROOT=str(tmp / "static"),
        BROKER_DIR=str(tmp / "broker"),
        LOGIN_RATE_PER_USERNAME="3/min",
        LOG_LEVEL="WARNING",
    )
    # No REDIS_URL, DATABASE_URL or MONGODB_URI: the embedded default.
    migrated = manage("migrate", "--noinput", "-v0", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    created = manage("shell", "-c", CREATE_USER, env=env)
    assert created.returncode == 0, created.stderr

    port = free_port()
    access_log = tmp / "access.log"
    log = (tmp / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "scheduler_site.wsgi",
            "--config",
            "gunicorn.conf.py",  # the production settings, with these overrides:
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "3",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(U)s %(s)s",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(port=port, access_log=access_log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp / "gunicorn.log").read_text()
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def requests_until_both_workers_answer(server: Server, send, path: str, status: int, *, minimum: int = 20) -> list:
    """Send at least `minimum` requests, in small parallel bursts, until both workers answered some."""
    results = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(results) < minimum or len(server.worker_pids(path, status)) < 2:
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

    # -- throttle: LOGIN_RATE_PER_USERNAME=3/min counts attempts on every worker together
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
