"""Real receivers for alerts, started by the tests: an SMTP server (aiosmtpd) and an HTTP server that
checks webhook signatures, both on 127.0.0.1 (the egress policy is told to allow it: `allow_loopback`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from jobs.execution import dispatch


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    port: int
    inbox: _Inbox

    @property
    def messages(self) -> list[Any]:
        return self.inbox.messages


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Smtp]:
    """A real SMTP server on 127.0.0.1, and Django's SMTP backend pointed at it."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield Smtp(port, inbox)
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    signature_ok: bool | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the HTTP receiver got; `statuses` are answered in turn (the last one repeats)."""

    port: int
    secret: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            timestamp = self.headers.get("X-Scheduler-Timestamp")
            signature = self.headers.get("X-Scheduler-Signature")
            ok = None
            if receiver.secret and timestamp and signature:
                expected = hmac.new(receiver.secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
                ok = hmac.compare_digest(expected.hexdigest(), signature)
            elif receiver.secret:
                ok = False
            receiver.received.append(Received(self.path, dict(self.headers), body, ok))
            status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
            answer = b"ok" if status < 400 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver(allow_loopback: None) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records posts and checks their signature against `receiver.secret`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver(0)))
    state = Receiver(server.server_address[1])
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def deliveries_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """`deliver_alert` messages, captured instead of published: (delivery id, countdown)."""
    sent: list[tuple[str, float]] = []

    def capture(task: str, args: list[str], *, countdown: float = 0.0) -> bool:
        assert task == dispatch.DELIVER_ALERT_TASK
        sent.append((args[0], countdown))
        return True

    monkeypatch.setattr(dispatch, "send", capture)
    return sent


@pytest.fixture
def broker_down() -> Iterator[Any]:
    """A context manager: inside it, messages go to a broker address where nothing listens (refused)."""
    import contextlib
    import os

    from scheduler_site.celery import app
    from tests.brokers import use_broker

    def use(url: str, options: dict[str, Any]) -> None:
        # celery reads CELERY_BROKER_URL from the environment before its configuration.
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = url
        use_broker(url, options)

    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    @contextlib.contextmanager
    def down() -> Iterator[None]:
        use(f"redis://127.0.0.1:{_free_port()}/0", {"socket_connect_timeout": 0.5})
        try:
            yield
        finally:
            use(*saved)

    yield down
    use(*saved)
