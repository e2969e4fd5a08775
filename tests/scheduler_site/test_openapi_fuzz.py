"""The served API keeps the promises of its OpenAPI schema, under generated input (issue 15).

gunicorn serves the app on the lane's database engine; a user with a few jobs
gets a JWT; then the schemathesis CLI generates requests for every operation
of `/api/schema/` (a bounded number per operation, settings in
schemathesis.toml beside this file) and checks each answer: no 5xx, and
status, content type, headers and body as the schema documents them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import ROOT, Server, clean_env, gunicorn_server, lane_database, manage

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
PASSWORD = "fuzz-test-password-1"
SETUP = f"""
from accounts.services import user_create
user_create(username="fuzz", email="fuzz@example.com", password="{PASSWORD}")
"""
JOBS = [
    {
        "name": "weekly",
        "schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
        "action": {"type": "task", "task": "echo", "kwargs": {"hello": "world"}},
    },
    {
        "name": "cron",
        "schedule": {"kind": "cron", "cron": "*/5 * * * *"},
        "action": {"type": "http", "url": "https://example.com/hook", "headers": {"X-Api-Key": "secret-value"}},
    },
    {
        "name": "paused",
        "enabled": False,
        "schedule": {"kind": "interval", "every": 2, "unit": "hours"},
        "action": {"type": "task", "task": "echo"},
    },
]
CHANNELS = [
    {"name": "ops", "kind": "webhook", "target": "https://hooks.example.com/scheduler"},
    {"name": "to-delete", "kind": "email", "target": "ops@example.com"},
]
# The run must stay well inside the CI budget; a slower run is a failure to look into.
MAX_SECONDS = 180


def _check(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{done.args}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with lane_database(tmp_path, prefix="openapi_fuzz") as database:
        env = clean_env(
            SECRET_KEY="openapi-fuzz-test-secret-key-" + "x" * 40,
            DEBUG="false",
            REDIS_URL=settings.REDIS_URL,  # the lane's Redis, under a key prefix of its own
            CACHE_KEY_PREFIX=f"openapi-fuzz-{uuid.uuid4().hex[:8]}",
            STATIC_ROOT=str(tmp_path / "static"),
            BROKER_DIR=str(tmp_path / "broker"),
            LOG_LEVEL="WARNING",
            # Generated requests come fast: the per-user write limits would answer most of them 429.
            API_RATE_JOB_WRITES="100000/min",
            API_RATE_RUN_NOW="100000/min",
            JOBS_MAX_PER_USER="100000",
            **database,
        )
        _check(manage("migrate", "--noinput", "-v0", env=env, timeout=120))
        _check(manage("shell", "-c", SETUP, env=env))
        with gunicorn_server(env, tmp_path) as running:
            yield running


def test_every_operation_keeps_the_schema_promises(server: Server, tmp_path: Path):
    status, _, tokens = server.request("POST", "/api/v1/token/", {"username": "fuzz", "password": PASSWORD})
    assert status == 200, tokens
    token = tokens["access"]
    ids = []
    for job in JOBS:
        status, _, created = server.request("POST", "/api/v1/jobs/", job, token)
        assert status == 201, created
        ids.append(created["id"])
    channels = []
    for channel in CHANNELS:
        status, _, created = server.request("POST", "/api/v1/channels/", channel, token)
        assert status == 201, created
        channels.append(created["id"])

    started = time.monotonic()
    done = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(CONFIG),
            "run",
            f"http://127.0.0.1:{server.port}/api/schema/",
            "--url",
            f"http://127.0.0.1:{server.port}",
            "--header",
            f"Authorization: Bearer {token}",
            "--report-dir",
            str(tmp_path / "report"),
            "--no-color",
        ],
        cwd=ROOT,
        # The ids schemathesis.toml binds the job and channel operations to: the first, and the last for DELETE.
        env={
            **os.environ,
            "FUZZ_JOB_ID": ids[0],
            "FUZZ_DELETE_JOB_ID": ids[-1],
            "FUZZ_CHANNEL_ID": channels[0],
            "FUZZ_DELETE_CHANNEL_ID": channels[-1],
        },
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 60,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = f"{done.stdout}\n{done.stderr}"
    print(output[-20000:])
    assert done.returncode == 0, f"schemathesis found problems (exit {done.returncode}):\n{output[-20000:]}"
    assert elapsed < MAX_SECONDS, f"the fuzz run took {elapsed:.0f} s"
