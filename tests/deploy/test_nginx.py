"""deploy/nginx in front of gunicorn: slow clients wait in nginx, gunicorn's threads stay free.

gunicorn (gunicorn.conf.py: 2 workers x 4 threads) is started as in production; nginx runs the
repository's template with the upstream and port filled in as the official image would. Fifty clients
then trickle their request headers a byte at a time (bounded: 50 local connections, a few seconds),
and /healthz through nginx must still answer within a second, every time.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env, free_port, gunicorn_server

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
SLOW_CLIENTS = 50

if not Path(NGINX).exists():
    pytest.skip("nginx is missing: run scripts/install_nginx.sh (Debian's package)", allow_module_level=True)


def render(upstream: str, port: int) -> str:
    """What the official image's entrypoint does with the template: envsubst of the two variables."""
    return TEMPLATE.read_text().replace("${WEB_UPSTREAM}", upstream).replace("${NGINX_PORT}", str(port))


@contextlib.contextmanager
def nginx_in_front_of(upstream: str, tmp: Path) -> Iterator[int]:
    port = free_port()
    (tmp / "default.conf").write_text(render(upstream, port))
    (tmp / "nginx.conf").write_text(
        f"""
worker_processes 1;
user root;  # the test's temporary directories are the test user's
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/default.conf;
}}
"""
    )
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (tmp / "error.log").read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            assert time.monotonic() < deadline, "nginx did not listen within 10 s"
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finishes what it has, then exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class SlowClients:
    """Connections that send a request's headers one byte every 0.2 s and never finish them."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        self.stop = threading.Event()
        self.alive = [True] * count
        for sock in self.sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(0.2):
            for index, sock in enumerate(self.sockets):
                try:
                    sock.sendall(b"x")
                except OSError:
                    self.alive[index] = False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def healthz_seconds(port: int) -> float:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    finally:
        connection.close()
    return time.monotonic() - started


def test_fifty_slow_clients_do_not_delay_healthz_through_nginx(tmp_path: Path) -> None:
    env = clean_env(SECRET_KEY="nginx-test-secret-key-0123456789", DEBUG="false", NUM_PROXIES="1")
    with gunicorn_server(env, tmp_path) as web, nginx_in_front_of(f"127.0.0.1:{web.port}", tmp_path) as port:
        assert healthz_seconds(port) < 1
        slow = SlowClients(port, SLOW_CLIENTS)
        try:
            time.sleep(1)  # every slow client has sent several bytes: gunicorn would hold 50 threads now
            timings = [healthz_seconds(port) for _ in range(7)]
            time.sleep(0.5)
            assert all(slow.alive), "nginx closed slow clients early: the test would measure nothing"
        finally:
            slow.close()
    assert max(timings) < 1, timings
