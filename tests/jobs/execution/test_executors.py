"""The http and task executors: what a run records, and that secrets never leak."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from jobs.execution import executors, registry
from jobs.models import MASK, Job, RunStatus

SECRET = "Bearer top-secret-token-42"
# The local servers these tests call are on 127.0.0.1.
pytestmark = pytest.mark.usefixtures("allow_loopback")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/status/"):
            self._reply(int(self.path.rsplit("/", 1)[1]), b"status page")
        elif self.path == "/echo-headers":
            self._reply(200, json.dumps(dict(self.headers.items())).encode())
        elif self.path == "/slow":
            time.sleep(2)
            self._reply(200, b"late")
        elif self.path == "/big":
            self._reply(200, b"x" * 100_000)
        else:
            self._reply(200, b"hello")

    do_POST = do_GET

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_job(url: str, **fields: Any) -> Job:
    return Job(
        action_type="http",
        http_method=fields.pop("method", "GET"),
        http_url=url,
        http_headers=fields.pop("headers", {"Authorization": SECRET}),
        http_expected_status=fields.pop("expected", []),
        **fields,
    )


def test_http_success_records_status_latency_and_body(server):
    outcome = executors.run_http(http_job(f"{server}/ok"), timeout=5)
    assert outcome.status == RunStatus.SUCCEEDED
    result = json.loads(outcome.result)
    assert result["status_code"] == 200
    assert result["body"] == "hello"
    assert isinstance(result["latency_ms"], int)
    assert outcome.error == ""


def test_http_status_outside_expected_fails_with_the_code(server):
    outcome = executors.run_http(http_job(f"{server}/status/503"), timeout=5)
    assert outcome.status == RunStatus.FAILED
    assert json.loads(outcome.result)["status_code"] == 503
    assert "HTTP 503" in outcome.error
    assert "any 2xx" in outcome.error


def test_http_expected_status_list_is_success(server):
    outcome = executors.run_http(http_job(f"{server}/status/404", expected=[404]), timeout=5)
    assert outcome.status == RunStatus.SUCCEEDED
    outcome = executors.run_http(http_job(f"{server}/status/200", expected=[201]), timeout=5)
    assert outcome.status == RunStatus.FAILED


def test_http_closed_port_fails_cleanly():
    port = closed_port()
    outcome = executors.run_http(http_job(f"http://127.0.0.1:{port}/hook?token=abc"), timeout=5)
    assert outcome.status == RunStatus.FAILED
    assert outcome.reason == "connection error"
    assert outcome.error == (
        f"Connection failed: could not connect to http://127.0.0.1:{port}/hook ([Errno 111] Connection refused)."
    )


def test_http_slow_server_times_out(server):
    outcome = executors.run_http(http_job(f"{server}/slow"), timeout=0.5)
    assert outcome.status == RunStatus.TIMED_OUT
    assert "Timed out after 0.5 s" in outcome.error


def test_header_values_never_appear_in_results_or_errors(server):
    outcome = executors.run_http(http_job(f"{server}/echo-headers"), timeout=5)
    assert outcome.status == RunStatus.SUCCEEDED
    assert SECRET not in outcome.result
    assert "top-secret" not in outcome.result
    assert MASK in outcome.result
    # A library error that quotes the header value (an invalid header).
    bad = http_job(f"{server}/ok", headers={"X-Token": "secret value\nwith newline"})
    outcome = executors.run_http(bad, timeout=5)
    assert outcome.status == RunStatus.FAILED
    assert "secret value" not in outcome.error


def test_http_body_excerpt_keeps_the_result_within_4_kb(server):
    outcome = executors.run_http(http_job(f"{server}/big"), timeout=5)
    assert outcome.status == RunStatus.SUCCEEDED
    assert len(outcome.result.encode()) <= 4096
    assert json.loads(outcome.result)["status_code"] == 200


def task_job(name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> Job:
    return Job(action_type="task", task_name=name, task_args=args or [], task_kwargs=kwargs or {})


def test_task_result_is_the_json_encoded_return_value():
    outcome = executors.run_task(task_job("echo", kwargs={"a": 1, "b": [1, 2]}))
    assert outcome.status == RunStatus.SUCCEEDED
    assert json.loads(outcome.result) == {"a": 1, "b": [1, 2]}


def test_task_exception_is_a_failure_with_type_and_message():
    outcome = executors.run_task(task_job("fail", kwargs={"message": "boom"}))
    assert outcome.status == RunStatus.FAILED
    assert outcome.error == "RuntimeError: boom"


def test_task_result_is_truncated_to_4_kb(monkeypatch):
    monkeypatch.setitem(
        registry._REGISTRY, "big", registry.RegisteredTask("big", lambda: "é" * 10_000, False, "big result")
    )
    outcome = executors.run_task(task_job("big"))
    assert outcome.status == RunStatus.SUCCEEDED
    assert len(outcome.result.encode()) <= 4096
    assert outcome.result.endswith("[truncated]")


def test_unknown_task_fails_clearly():
    outcome = executors.run_task(task_job("no-such-task"))
    assert outcome.status == RunStatus.FAILED
    assert 'Unknown task "no-such-task"' in outcome.error


def test_soft_time_limit_passes_through_the_task_executor(monkeypatch):
    def stopped() -> None:
        raise SoftTimeLimitExceeded()

    monkeypatch.setitem(registry._REGISTRY, "stopped", registry.RegisteredTask("stopped", stopped, False, ""))
    with pytest.raises(SoftTimeLimitExceeded):
        executors.run_task(task_job("stopped"))


def test_a_short_header_value_is_masked_where_it_stands_alone(server):
    outcome = executors.run_http(http_job(f"{server}/echo-headers", headers={"X-Pin": "k9"}), timeout=5)

    assert outcome.status == RunStatus.SUCCEEDED
    assert json.loads(json.loads(outcome.result)["body"])["X-Pin"] == MASK


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pin=k9; other=k99 ak9", f"pin={MASK}; other=k99 ak9"),
        ('{"X-Pin": "k9"}', f'{{"X-Pin": "{MASK}"}}'),
        ("token abcd-efgh in abcd-efghij", f"token {MASK} in {MASK}ij"),
    ],
)
def test_scrub(text, expected):
    assert executors.scrub(text, ["k9", "abcd-efgh", ""]) == expected
