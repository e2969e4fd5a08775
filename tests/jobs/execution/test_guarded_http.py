"""The egress policy at run time: real local servers, the peer address of every connection, every hop.

Host names are made to resolve to 127.0.0.1 by patching `socket.getaddrinfo`
for those names only: resolution is outside the service (what a DNS server
answers is up to whoever controls the name), and this is how such an
attacker-controlled answer looks to the service.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from jobs import services
from jobs.execution import claims, egress, executors, guarded_http
from jobs.execution.egress import EgressRefused, Policy
from jobs.models import Job, RunStatus, RunTrigger

SECRET = "Bearer run-time-secret-77"
LOOPBACK_ALLOWED = Policy(networks=(ip_network("127.0.0.1/32"),))
DEFAULT = Policy()


class Handler(BaseHTTPRequestHandler):
    hits: list[tuple[str, str, dict[str, str]]]

    def do_GET(self) -> None:
        self.server.hits.append((self.command, self.path, dict(self.headers.items())))  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/redirect":
            self.send_response(int(query.get("code", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/chain/"):
            left = int(parts.path.rsplit("/", 1)[1])
            self.send_response(302)
            self.send_header("Location", f"/chain/{left - 1}" if left else "/headers")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"path": parts.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


class Server:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.hits = []  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def hits(self) -> list[tuple[str, str, dict[str, str]]]:
        return self.httpd.hits  # type: ignore[attr-defined]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    # Module-wide: stopping a server waits for its poll interval (0.5 s).
    running = (Server(), Server())
    yield running
    for each in running:
        each.close()


@pytest.fixture
def server(servers: tuple[Server, Server]) -> Server:
    servers[0].hits.clear()
    return servers[0]


@pytest.fixture
def other_server(servers: tuple[Server, Server]) -> Server:
    servers[1].hits.clear()
    return servers[1]


@pytest.fixture
def local_names(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make host names resolve to the given addresses (only those names; every other lookup is real)."""
    names: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.rstrip(".").lower() in names:
            return [answer for address in names[host.rstrip(".").lower()] for answer in real(address, port, *args)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name: str, *addresses: str) -> None:
        names[name] = list(addresses)

    return add


def fetch(policy: Policy, url: str, **kwargs: Any) -> Any:
    kwargs.setdefault("headers", {"X-Api-Key": SECRET})
    response = guarded_http.fetch(policy, kwargs.pop("method", "GET"), url, body=None, timeout=(5, 5), **kwargs)
    try:
        body = response.raw.read() or b""
    finally:
        response.close()
    return response.status_code, json.loads(body) if body else None


# --- addresses ---------------------------------------------------------------------------------------


def test_a_local_server_is_reached_only_where_the_policy_allows_it(server: Server) -> None:
    code, body = fetch(LOOPBACK_ALLOWED, f"{server.url}/ok")
    assert (code, body["path"]) == (200, "/ok")
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
        fetch(DEFAULT, f"{server.url}/ok")
    assert len(server.hits) == 1


def test_a_public_looking_name_that_resolves_to_127_0_0_1_is_refused_at_connect(
    server: Server, local_names: Callable[..., None]
) -> None:
    local_names("rebound.example", "127.0.0.1")
    url = f"http://rebound.example:{server.port}/secret"
    DEFAULT.check_url(url)  # nothing in the URL itself is wrong: only the answer of the resolver is
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
        fetch(DEFAULT, url)
    assert server.hits == []


def test_https_connections_are_checked_too(server: Server, local_names: Callable[..., None]) -> None:
    local_names("rebound.example", "127.0.0.1")
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
        fetch(DEFAULT, f"https://rebound.example:{server.port}/")
    assert server.hits == []


def test_localhost_is_refused_at_write_and_at_connect(server: Server) -> None:
    with pytest.raises(EgressRefused, match="loopback name"):
        fetch(DEFAULT, f"http://localhost:{server.port}/")
    code, _ = fetch(LOOPBACK_ALLOWED, f"http://localhost:{server.port}/")
    assert code == 200


def test_only_the_allowed_addresses_of_a_name_are_connected_to(
    server: Server, local_names: Callable[..., None]
) -> None:
    # 127.0.0.2 is refused (only 127.0.0.1/32 is allowed) and skipped; the allowed address is used.
    local_names("mixed.example", "127.0.0.2", "127.0.0.1")
    code, body = fetch(LOOPBACK_ALLOWED, f"http://mixed.example:{server.port}/x")
    assert code == 200
    assert body["headers"]["Host"] == f"mixed.example:{server.port}"  # the URL's host, not the address


def test_the_services_own_ports_are_refused_inside_an_allowed_network(server: Server) -> None:
    policy = Policy(networks=(ip_network("127.0.0.0/8"),), services=frozenset({("127.0.0.1", server.port)}))
    with pytest.raises(EgressRefused, match="this service's own"):
        fetch(policy, f"{server.url}/")
    assert server.hits == []


def test_proxies_from_the_environment_are_ignored(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    code, _ = fetch(LOOPBACK_ALLOWED, f"{server.url}/direct")
    assert code == 200
    assert guarded_http.session(DEFAULT).trust_env is False


# --- redirects ---------------------------------------------------------------------------------------


def test_a_redirect_is_not_followed_by_default(server: Server) -> None:
    code, body = fetch(LOOPBACK_ALLOWED, f"{server.url}/redirect?to=/ok")
    assert (code, body) == (302, None)
    assert [path for _, path, _ in server.hits] == ["/redirect?to=/ok"]


def test_a_redirect_chain_from_an_allowed_to_a_forbidden_address_is_refused(
    server: Server, local_names: Callable[..., None]
) -> None:
    # Literal forbidden target: refused from the URL.
    with pytest.raises(EgressRefused, match=r"redirect 1 .*169\.254\.169\.254 is a link-local"):
        fetch(
            LOOPBACK_ALLOWED,
            f"{server.url}/redirect?to=http://169.254.169.254/latest/meta-data/",
            follow_redirects=True,
        )
    # Two hops, the second to a name that resolves to a forbidden address: refused at connect.
    server.hits.clear()
    local_names("internal.example", "127.0.0.2")
    forbidden = f"http://internal.example:{server.port}/admin/"
    first = f"{server.url}/redirect?to={server.url}/redirect?to={forbidden}"
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.2 is a loopback address"):
        fetch(LOOPBACK_ALLOWED, first, follow_redirects=True)
    assert len(server.hits) == 2


def test_followed_redirects_stop_after_five_hops(server: Server) -> None:
    code, body = fetch(LOOPBACK_ALLOWED, f"{server.url}/chain/4", follow_redirects=True)
    assert (code, body["path"]) == (200, "/headers")
    with pytest.raises(guarded_http.requests.TooManyRedirects, match="more than 5 redirects"):
        fetch(LOOPBACK_ALLOWED, f"{server.url}/chain/5", follow_redirects=True)


def test_headers_go_only_to_the_original_origin(server: Server, other_server: Server) -> None:
    code, body = fetch(LOOPBACK_ALLOWED, f"{server.url}/redirect?to=/same-origin", follow_redirects=True)
    assert body["headers"]["X-Api-Key"] == SECRET
    code, body = fetch(
        LOOPBACK_ALLOWED, f"{server.url}/redirect?to={other_server.url}/elsewhere", follow_redirects=True
    )
    assert (code, body["path"]) == (200, "/elsewhere")
    assert "X-Api-Key" not in body["headers"]
    assert all("X-Api-Key" not in headers for _, _, headers in other_server.hits)


def test_headers_are_dropped_when_the_host_name_changes(server: Server, local_names: Callable[..., None]) -> None:
    local_names("other.example", "127.0.0.1")
    target = f"http://other.example:{server.port}/renamed"
    code, body = fetch(LOOPBACK_ALLOWED, f"{server.url}/redirect?to={target}", follow_redirects=True)
    assert (code, body["path"]) == (200, "/renamed")
    assert "X-Api-Key" not in body["headers"]


def test_a_303_turns_a_post_into_a_get_without_its_body(server: Server) -> None:
    code, body = fetch(
        LOOPBACK_ALLOWED, f"{server.url}/redirect?code=303&to=/after", method="POST", follow_redirects=True
    )
    assert (code, body["path"]) == (200, "/after")
    assert [command for command, _, _ in server.hits] == ["POST", "GET"]


# --- through a run -----------------------------------------------------------------------------------


def http_job(url: str, **fields: Any) -> Job:
    return Job(
        action_type="http",
        http_method="GET",
        http_url=url,
        http_headers={"X-Api-Key": SECRET},
        http_expected_status=[],
        **fields,
    )


def test_a_refused_run_fails_permanently_with_the_reason(server: Server, local_names: Callable[..., None]) -> None:
    local_names("rebound.example", "127.0.0.1")
    outcome = executors.run_http(http_job(f"http://rebound.example:{server.port}/x"), timeout=5)
    assert outcome.status == RunStatus.FAILED
    assert outcome.reason == "egress refused"
    assert outcome.error.startswith("egress refused: 127.0.0.1 is a loopback address")
    assert outcome.permanent
    assert server.hits == []


def test_an_unfollowed_redirect_is_the_runs_result(server: Server, settings: Any) -> None:
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    outcome = executors.run_http(http_job(f"{server.url}/redirect?to=/ok"), timeout=5)
    assert outcome.status == RunStatus.FAILED
    assert json.loads(outcome.result)["status_code"] == 302
    assert "follow_redirects" in outcome.error
    followed = executors.run_http(http_job(f"{server.url}/redirect?to=/ok", http_follow_redirects=True), timeout=5)
    assert followed.status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_refused_run_is_not_retried(
    server: Server, local_names: Callable[..., None], make_job: Any, sent: Any
) -> None:
    local_names("rebound.example", "127.0.0.1")
    job = make_job(
        action={"type": "http", "url": f"http://rebound.example:{server.port}/x"}, max_retries=3, timeout_seconds=5
    )
    run = claims.new_run(job, job.next_run_at)
    assert claims.claim_one(run)
    services.run_execute_slot(job_id=str(job.pk), scheduled_for=run.scheduled_for.isoformat(), worker="w")
    run.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.FAILED, "egress refused")
    assert not [r for r in sent.run_list if r.trigger == RunTrigger.RETRY]
    assert server.hits == []


def test_the_policy_of_the_settings_is_what_runs_use(settings: Any) -> None:
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert egress.policy_for(settings).networks == (ip_network("10.0.0.0/8"),)
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []
    assert egress.policy_for(settings).networks == ()
