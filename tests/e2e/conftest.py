"""End-to-end helpers: a real Celery worker and beat as subprocesses, on PostgreSQL and Redis.

The test process and its subprocesses share pytest-django's test database
(tests are transactional, so the subprocesses see committed rows) and a
Redis broker database of their own (E2E_BROKER_URL, default db 13), emptied
before each test. Every process is started in its own process group and
killed (group-wide) when the test ends, whatever its outcome; its log is
printed on teardown, which pytest shows for failing tests.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from jobs.models import JobRun
from scheduler_site.celery import app as celery_app
from tests import factories
from tests.brokers import use_broker

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
BROKER_URL = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/13")
READY_TIMEOUT = 30
E2E_ALLOWED_NETWORK = "127.0.0.1/32"
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], *, timeout: float, message: str, interval: float = 0.1) -> T:
    """Poll until `predicate()` is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s: {message}")
        time.sleep(interval)


def runs_of(job: Any, **filters: Any) -> list[JobRun]:
    return list(JobRun.objects.filter(job_id=job.pk, **filters).order_by("scheduled_for", "attempt", "created_at"))


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        """Signal the whole process group (a worker's pool children too)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        """Warm shutdown (SIGTERM to the main process), then SIGKILL whatever is left of the group."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)
        # Pool children may outlive a killed parent: sweep the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


class Processes:
    """Starts worker and beat subprocesses against the test database; stops them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[Process] = []

    def _start(self, name: str, args: list[str], ready: str, env: dict[str, str]) -> Process:
        log = self.log_dir / f"{len(self.started):02d}-{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [CELERY, "-A", "scheduler_site", *args],
                cwd=ROOT,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        wait_for(
            lambda: ready in process.output() or popen.poll() is not None,
            timeout=READY_TIMEOUT,
            message=f"{name} did not start:\n{process.output()[-3000:]}",
        )
        assert popen.poll() is None, f"{name} exited:\n{process.output()[-3000:]}"
        return process

    def worker(self, name: str = "worker", **env: str) -> Process:
        args = ["worker", "--pool=prefork", "--concurrency=2", "--loglevel=INFO", f"--hostname={name}@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--include=tests.e2e.stubborn_task"]
        return self._start(name, args, " ready.", env)

    def beat(self, name: str = "beat", **env: str) -> Process:
        return self._start(name, ["beat", "--loglevel=INFO", "--pidfile="], "job scheduler started", env)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def broker() -> Iterator[str]:
    """An empty Redis broker database, also used by this process to publish (run now, retries)."""
    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    use_broker(BROKER_URL, {})
    yield BROKER_URL
    use_broker(*saved)
    client.flushdb()
    client.close()


@pytest.fixture
def procs(transactional_db: None, broker: str, settings: Any, tmp_path: Path) -> Iterator[Processes]:
    """Start workers and beats with `procs.worker()` / `procs.beat()`; all are killed after the test."""
    if connection.vendor != "postgresql":
        pytest.skip("end-to-end tests run on the PostgreSQL lane")
    settings.JOBS_MIN_INTERVAL_SECONDS = 1
    # The tests' http servers listen on 127.0.0.1: allowed by the egress policy, as the demo
    # allows it, for the jobs created here and the processes that run them.
    settings.JOBS_HTTP_ALLOWED_NETWORKS = [E2E_ALLOWED_NETWORK]
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="scheduler_site.settings",
        ENV_FILE="",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        SECRET_KEY=django_settings.SECRET_KEY,
        DATABASE_URL=_database_url(),
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        CELERY_BROKER_URL=broker,
        LOG_LEVEL="INFO",
        JOBS_MIN_INTERVAL_SECONDS="1",
        JOBS_REAPER_INTERVAL_SECONDS="2",
        JOBS_REAPER_GRACE_SECONDS="2",
        JOBS_HTTP_ALLOWED_NETWORKS=E2E_ALLOWED_NETWORK,
    )
    processes = Processes(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
        for process in processes.started:
            print(f"\n===== {process.name} ({process.log}) =====\n{process.output()[-6000:]}")


@pytest.fixture
def make_job(user: Any) -> Callable[..., Any]:
    """`factories.job` for `user`, every second, an echo of {"e2e": True}."""
    every_second = {"kind": "interval", "every": 1, "unit": "seconds"}
    return functools.partial(factories.job, owner=user, schedule=every_second, action=factories.task_action(e2e=True))
