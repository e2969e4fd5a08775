"""Helpers for tests that run the project in a child process with a controlled environment."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def clean_env(**overrides: str) -> dict[str, str]:
    """A minimal environment: no inherited settings, no .env file, plus `overrides`."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
            "ENV_FILE": "",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(overrides)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run([PYTHON, "-c", code], env, timeout)


def manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run([PYTHON, "manage.py", *args], env, timeout)


@contextlib.contextmanager
def lane_database(tmp: Path, *, prefix: str = "child") -> Iterator[dict[str, str]]:
    """Settings for a child process's own database on the lane's engine: a SQLite file under `tmp`,
    or (when the lane sets DATABASE_URL) a throwaway PostgreSQL database on the same server, dropped after.

    The child migrates it itself; the lane's test database stays the test process's own.
    """
    lane_url = os.environ.get("DATABASE_URL", "")
    if not lane_url:
        yield {"SQLITE_PATH": str(tmp / "db.sqlite3")}
        return
    parts = urlsplit(lane_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    pg_env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    created = subprocess.run(
        ["createdb", *server, name], env=pg_env, capture_output=True, text=True, timeout=30, check=False
    )
    assert created.returncode == 0, created.stderr
    try:
        yield {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    finally:
        subprocess.run(
            ["dropdb", *server, "--if-exists", "--force", name],
            env=pg_env,
            capture_output=True,
            timeout=30,
            check=False,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn started by `gunicorn_server`; its access log has one `pid method path status` line per request."""

    port: int
    access_log: Path

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, dict, Any]:
        """One request on a new connection (so the kernel may hand it to either worker): (status, headers, json)."""
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

    def log_lines(self) -> list[tuple[str, str, str, int]]:
        """(pid, method, path, status) of every request so far."""
        lines = []
        for line in self.access_log.read_text().splitlines():
            pid, method, path, status = line.split()
            lines.append((pid, method, path, int(status)))
        return lines


@contextlib.contextmanager
def gunicorn_server(env: dict[str, str], tmp: Path, *, startup_seconds: float = 30) -> Iterator[Server]:
    """Serve the app with the production gunicorn.conf.py and two workers; stop master and workers after."""
    port = free_port()
    access_log = tmp / "access.log"
    output = tmp / "gunicorn.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "scheduler_site.wsgi",
                "--config",
                "gunicorn.conf.py",  # production settings, with these overrides:
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "2",
                "--access-logfile",
                str(access_log),
                "--access-logformat",
                "%(p)s %(m)s %(U)s %(s)s",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the finalizer kills master and workers together
        )
    try:
        server = Server(port=port, access_log=access_log)
        deadline = time.monotonic() + startup_seconds
        while True:
            assert process.poll() is None, output.read_text()
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer within {startup_seconds} s"
            time.sleep(0.1)
        yield server
    finally:
        # The group id is the master's pid (start_new_session), which stays
        # ours until wait() reaps it: this reaches every worker, even if the
        # master died first.
        _kill_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _kill_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)
