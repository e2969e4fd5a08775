"""scripts/run.sh, the README's first command, from a copy of the working tree as a new user would run it.

It installs (here: a no-op against the suite's own virtualenv), migrates a fresh SQLite file, starts
worker, beat and web, and prints the login last. The demo password survives a restart; a busy port
stops it before anything starts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, _kill_group, clean_env, free_port

pytestmark = pytest.mark.e2e

LOGIN_PREFIX = "Demo login: username=demo password="
_NOT_COPIED = (".git", ".venv", "var", "test-artifacts", "__pycache__", ".pytest_cache", ".ruff_cache", ".env")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """The working tree as a fresh clone has it, sharing the suite's virtualenv."""
    copy = tmp_path / "app"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True)
    (copy / ".venv").symlink_to((ROOT / ".venv").resolve())
    return copy


class Started:
    def __init__(self, app: Path, port: int) -> None:
        self.output = app.parent / f"run-{port}-{time.monotonic_ns()}.out"
        env = clean_env(PORT=str(port))
        del env["ENV_FILE"]  # as a user runs it: .env if there is one (the copy has none)
        with self.output.open("w") as out:
            self.process = subprocess.Popen(
                ["bash", "scripts/run.sh"],
                cwd=app,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.base = f"http://127.0.0.1:{port}"

    def text(self) -> str:
        return self.output.read_text()

    def wait_for_login(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while LOGIN_PREFIX not in self.text():
            assert self.process.poll() is None, f"run.sh ended ({self.process.returncode}):\n{self.text()}"
            assert time.monotonic() < deadline, f"no login line within {timeout} s:\n{self.text()}"
            time.sleep(0.25)
        time.sleep(0.3)  # the lines after it
        return self.text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # run.sh's trap stops what it started
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        _kill_group(self.process.pid, signal.SIGKILL)  # anything left behind
        if self.process.poll() is None:
            self.process.wait(timeout=10)


@pytest.fixture
def start(app: Path) -> Iterator:
    started: list[Started] = []

    def start_once(port: int) -> Started:
        run = Started(app, port)
        started.append(run)
        return run

    yield start_once
    for run in started:
        run.stop()


def password_in(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(LOGIN_PREFIX)).removeprefix(LOGIN_PREFIX)


def call(base: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_run_sh_serves_the_demo_prints_the_login_last_and_keeps_it_across_restarts(app: Path, start) -> None:
    port = free_port()
    first = start(port)
    text = first.wait_for_login()
    tail = text.rstrip().splitlines()
    login_at = next(i for i, line in enumerate(tail) if line.startswith(LOGIN_PREFIX))
    assert tail[login_at + 1 :] == ["Ctrl-C stops it all."], text  # nothing scrolls the login away
    assert f"admin:     {first.base}/admin/" in text and f"API docs:  {first.base}/api/docs/" in text
    password = password_in(text)
    assert (app / "var" / "demo-password").read_text().strip() == password
    assert "celery" not in text.lower().split("[4/4]", 1)[1]  # worker and beat write to their logs

    status, tokens = call(first.base, "/api/v1/token/", {"username": "demo", "password": password})
    assert status == 200
    _, jobs = call(first.base, "/api/v1/jobs/", token=tokens["access"])
    names = {job["name"]: job["id"] for job in jobs["results"]}
    assert {"demo-heartbeat", "demo-http-check", "demo-weekly-report"} <= set(names)
    # The worker and beat really run: the 10-second heartbeat records a succeeded run.
    deadline = time.monotonic() + 40
    while True:
        _, runs = call(first.base, f"/api/v1/jobs/{names['demo-heartbeat']}/runs/", token=tokens["access"])
        if any(run["status"] == "succeeded" for run in runs["results"]):
            break
        assert time.monotonic() < deadline, (app / "var" / "log" / "worker.log").read_text()[-3000:]
        time.sleep(1)
    for name in ("web", "worker", "beat"):
        assert (app / "var" / "log" / f"{name}.log").stat().st_size > 0, name
    first.stop()
    assert first.process.returncode is not None

    second = start(port)
    assert password_in(second.wait_for_login()) == password
    assert call(second.base, "/api/v1/token/", {"username": "demo", "password": password})[0] == 200


def test_a_busy_port_stops_run_sh_before_anything_starts(app: Path, start) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = start(port)
        assert run.process.wait(timeout=120) == 1, run.text()
    text = run.text()
    assert f"port {port} on 127.0.0.1 is not free" in text
    assert f"PORT={port + 1} scripts/run.sh" in text
    assert "[1/4]" not in text  # nothing migrated or started
    assert not (app / "var").exists()  # not even the secret key or the demo password
