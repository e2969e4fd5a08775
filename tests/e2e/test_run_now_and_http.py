"""Manual runs and http actions against a real worker: status codes recorded, closed ports fail cleanly."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs import services
from jobs.models import FINISHED_STATUSES, JobRun, RunStatus, RunTrigger
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "Bearer e2e-header-secret"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.dumps({"seen_authorization": self.headers.get("Authorization")}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def finished(run: JobRun) -> JobRun:
    return wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status__in=FINISHED_STATUSES).first(),
        timeout=15,
        message=f"run {run.pk} to finish",
    )


def test_run_now_creates_a_manual_run_that_a_worker_executes(procs, make_job, user):
    worker = procs.worker()
    job = make_job(schedule={"kind": "interval", "every": 1, "unit": "hours"})
    run = finished(services.job_request_run(job=job, actor=user))
    assert (run.trigger, run.status) == (RunTrigger.MANUAL, RunStatus.SUCCEEDED)
    assert json.loads(run.result) == {"e2e": True}
    assert run.worker.startswith("worker@")
    line = f"run {run.pk} of job {job.pk} ended succeeded"
    wait_for(lambda: line in worker.output(), timeout=5, message="the run's end in the worker log")


def test_an_http_job_records_the_status_code_and_never_the_header_value(procs, make_job, user, server):
    worker = procs.worker()
    job = make_job(
        action={
            "type": "http",
            "method": "POST",
            "url": f"{server}/hook",
            "headers": {"Authorization": SECRET},
            "expected_status": [201],
        }
    )
    run = finished(services.job_request_run(job=job, actor=user))
    assert run.status == RunStatus.SUCCEEDED
    result = json.loads(run.result)
    assert result["status_code"] == 201
    assert result["latency_ms"] >= 0
    assert SECRET not in run.result  # the server echoed it; the excerpt is scrubbed
    assert SECRET not in worker.output()


def test_an_http_job_against_a_closed_port_fails_cleanly(procs, make_job, user):
    procs.worker()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    job = make_job(action={"type": "http", "url": f"http://127.0.0.1:{port}/hook", "headers": {"X-Key": SECRET}})
    run = finished(services.job_request_run(job=job, actor=user))
    assert (run.status, run.reason) == (RunStatus.FAILED, "connection error")
    assert "Connection refused" in run.error
    assert SECRET not in run.error
    assert run.result == ""


def test_a_worker_refuses_what_its_egress_policy_does_not_allow_and_does_not_retry(procs, make_job, user, server):
    # Saved while 127.0.0.1 was allowed; this worker's operator allows nothing beyond the internet.
    worker = procs.worker(JOBS_HTTP_ALLOWED_NETWORKS="")
    port = server.rsplit(":", 1)[1]
    job = make_job(
        action={"type": "http", "method": "POST", "url": f"http://localhost:{port}/hook", "headers": {"X-Key": SECRET}},
        max_retries=2,
        retry_backoff_seconds=1,
    )
    run = finished(services.job_request_run(job=job, actor=user))
    assert (run.status, run.reason) == (RunStatus.FAILED, "egress refused")
    assert run.error.startswith("egress refused: ")
    assert "loopback" in run.error
    assert SECRET not in run.error + worker.output()
    # A refusal is permanent: no retry is queued (the backoff would have been 1 s).
    time.sleep(2)
    assert not JobRun.objects.filter(job_id=job.pk, trigger=RunTrigger.RETRY).exists()
