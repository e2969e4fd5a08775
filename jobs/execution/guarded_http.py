"""HTTP for http actions, through the egress policy at every connection and every hop.

The policy is checked where it cannot be got around: on the peer address of
each connection, right before connecting. A connection resolves its host
itself, keeps only the addresses the policy allows (in the resolver's
order) and connects to one of those, so a name that resolves to a
forbidden address (DNS rebinding, a "public" name pointing at 127.0.0.1) is
refused at run time whatever it resolved to when the job was saved. The
Host header, TLS SNI and certificate checks keep the URL's host name.

Redirects are never followed by requests: `fetch` follows them itself only
when the job asks (`follow_redirects`), at most MAX_REDIRECTS hops, each one
checked like the first, and sends the job's stored headers only to the
origin (scheme, host, port) they were entered for. Proxies from the
environment are ignored (`trust_env = False`): a proxy would be the peer,
and the policy could no longer see where a request goes.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from jobs.execution.egress import EgressRefused, Policy

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _GuardedConnectionMixin:
    """`_new_conn` of urllib3's connections, with the policy deciding each resolved address."""

    policy: Policy
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.strip("[]")
        try:
            answers = socket.getaddrinfo(host, self.port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        refused: EgressRefused | None = None
        last_error: OSError | None = None
        for family, kind, proto, _, peer in answers:
            address = _ip(peer[0])
            try:
                self.policy.check_address(address, self.port, host=self.host)
            except EgressRefused as exc:
                refused = refused or exc
                continue
            sock = socket.socket(family, kind, proto)
            try:
                for level, option, value in self.socket_options or ():
                    sock.setsockopt(level, option, value)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(peer)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                sock.close()
                last_error = exc
        if last_error is not None:
            raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")  # type: ignore[arg-type]
        if refused is not None:
            raise refused
        raise NewConnectionError(self, "Failed to establish a new connection: the host resolved to no address")  # type: ignore[arg-type]


def _ip(text: str) -> IPv4Address | IPv6Address:
    return ip_address(text.split("%", 1)[0])  # an IPv6 peer may carry a zone id


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedAdapter(HTTPAdapter):
    """An adapter whose pools make guarded connections bound to one policy."""

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        bound = {"policy": self.policy}
        self.poolmanager.pool_classes_by_scheme = {
            "http": type(
                "GuardedHTTPConnectionPool",
                (HTTPConnectionPool,),
                {"ConnectionCls": type("BoundHTTPConnection", (GuardedHTTPConnection,), bound)},
            ),
            "https": type(
                "GuardedHTTPSConnectionPool",
                (HTTPSConnectionPool,),
                {"ConnectionCls": type("BoundHTTPSConnection", (GuardedHTTPSConnection,), bound)},
            ),
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise EgressRefused("requests through a proxy are not allowed")


def session(policy: Policy) -> requests.Session:
    """A requests session that connects only where `policy` allows, with no proxies from the environment."""
    guarded = requests.Session()
    guarded.trust_env = False
    guarded.proxies = {}
    adapter = GuardedAdapter(policy)
    guarded.mount("http://", adapter)
    guarded.mount("https://", adapter)
    return guarded


def fetch(
    policy: Policy,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: tuple[float, float],
    follow_redirects: bool = False,
) -> requests.Response:
    """Send the request (streamed: the caller reads and closes the response) under the policy.

    Raises EgressRefused (for the URL, a resolved address or a redirect's
    target), TooManyRedirects, or what requests raises for the call itself.
    """
    target = policy.check_url(url)
    origin = target.origin
    with session(policy) as client:
        for hop in range(MAX_REDIRECTS + 1):
            response = client.request(
                method,
                target.url,
                headers=dict(headers) if target.origin == origin else {},
                data=body,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
            location = response.headers.get("Location")
            if not follow_redirects or response.status_code not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            if hop == MAX_REDIRECTS:
                raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects, the most a run follows")
            try:
                target = policy.check_url(urljoin(target.url, location))
            except EgressRefused as exc:
                raise EgressRefused(f"redirect {hop + 1} goes where no request may: {exc.why}") from None
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                # As browsers and requests do: the next request is a GET without the body.
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
    raise AssertionError("unreachable")  # pragma: no cover
