"""Where an http action may connect: the egress policy. Pure: no Django, no network unless asked.

A URL is parsed once (`Policy.check_url`) and refused when it is ambiguous,
that is when this service, the requests/urllib3 stack, a resolver or a
browser could read it as different hosts: credentials in it, backslashes,
IPv4 addresses written in any form but four decimal numbers (`2130706433`,
`0x7f.1`, `0177.0.0.1`, `127.1`), digits or dots that are not ASCII, IPv4
addresses wrapped in IPv6 (`::ffff:127.0.0.1`), zone ids. What passes is
normalised (lower-case scheme and host, IDNA host, explicit port).

Every address a connection would use is then decided by `Policy.check_address`
(the run-time check in `jobs.execution.guarded_http` calls it with each
resolved peer address right before connecting, for every hop):

- never this service's own database, cache and broker (host and port), even
  inside an allowed network;
- never unspecified, multicast or broadcast addresses;
- loopback, link-local (169.254.0.0/16 with the cloud metadata address,
  fe80::/10), private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7,
  fec0::/10) and other reserved ranges only inside a network the operator
  lists in JOBS_HTTP_ALLOWED_NETWORKS; private ranges also for a host name
  listed there;
- IPv6 addresses that embed an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96,
  6to4 2002::/16, Teredo 2001::/32) are decided as the IPv4 address they carry.

Host names are not resolved here (`check_url` looks at the literal host):
resolution happens at run time, where the answer is what gets connected to.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import unquote, urlsplit

import idna

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

SCHEMES = {"http": 80, "https": 443}
SETTING = "JOBS_HTTP_ALLOWED_NETWORKS"
# How long resolved addresses of the service's own hosts are reused.
SERVICE_ADDRESS_TTL_SECONDS = 60.0

_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_CANONICAL_V4 = re.compile(r"^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")

# (network, why it is refused, allowed by a host-name entry too)
_V4_RULES: tuple[tuple[IPv4Network, str, bool], ...] = (
    (IPv4Network("127.0.0.0/8"), "a loopback address", False),
    (IPv4Network("169.254.0.0/16"), "a link-local address (this includes the cloud metadata service)", False),
    (IPv4Network("10.0.0.0/8"), "a private address", True),
    (IPv4Network("172.16.0.0/12"), "a private address", True),
    (IPv4Network("192.168.0.0/16"), "a private address", True),
    (IPv4Network("100.64.0.0/10"), "a private (carrier-grade NAT) address", True),
)
_V6_RULES: tuple[tuple[IPv6Network, str, bool], ...] = (
    (IPv6Network("::1/128"), "a loopback address", False),
    (IPv6Network("fe80::/10"), "a link-local address", False),
    (IPv6Network("fc00::/7"), "a private (unique-local) address", True),
    (IPv6Network("fec0::/10"), "a private (site-local) address", True),
)
_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
_BROADCAST = IPv4Address("255.255.255.255")


class EgressRefused(Exception):
    """A URL or an address the policy refuses; `str()` says why, for the run's error or a 400."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class Target:
    """A URL that passed `check_url`: normalised, with the literal IP if its host is one."""

    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


# --- parsing ---------------------------------------------------------------------------------------


def parse_url(url: Any) -> Target:
    """Parse and normalise `url`, or raise EgressRefused saying what makes it ambiguous or unusable."""
    if not isinstance(url, str) or not url:
        raise EgressRefused("the URL is empty")
    if "\\" in url:
        raise EgressRefused("the URL contains a backslash, which clients read in different ways")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise EgressRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise EgressRefused(f"the URL cannot be parsed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f'"{parts.scheme}"' if parts.scheme else "none"
        raise EgressRefused(f"the scheme is {shown}; only http and https are allowed")
    if "@" in parts.netloc:
        raise EgressRefused("the URL contains credentials (user:password@); send them in a header instead")
    if parts.netloc.startswith("["):
        host, ip = _parse_bracketed(parts.netloc)
    else:
        host, ip = _parse_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        raise EgressRefused("the port is not a number from 1 to 65535") from None
    if port == 0:
        raise EgressRefused("the port is not a number from 1 to 65535")
    port = port or SCHEMES[scheme]
    shown_host = f"[{host}]" if isinstance(ip, IPv6Address) else host
    netloc = shown_host if port == SCHEMES[scheme] else f"{shown_host}:{port}"
    normalised = f"{scheme}://{netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    return Target(url=normalised, scheme=scheme, host=host, port=port, ip=ip)


def _parse_bracketed(netloc: str) -> tuple[str, IPAddress]:
    inside = netloc[1:].partition("]")[0]
    if "%" in inside:
        raise EgressRefused("the IPv6 address has a zone id (%...), which names a local interface")
    try:
        address = IPv6Address(inside)
    except ValueError:
        raise EgressRefused(f"[{inside}] is not a valid IPv6 address") from None
    if address.ipv4_mapped is not None:
        raise EgressRefused(
            f"[{inside}] is an IPv4-mapped IPv6 address; write the IPv4 address {address.ipv4_mapped} itself"
        )
    return address.compressed, address


def _parse_host(host: str) -> tuple[str, IPAddress | None]:
    if not host:
        raise EgressRefused("the URL has no host")
    if "%" in host:
        raise EgressRefused("the host is percent-encoded, which clients decode in different ways")
    if not host.isascii():
        if any(unicodedata.category(char) == "Nd" for char in host if not char.isascii()):
            raise EgressRefused("the host contains non-ASCII (e.g. fullwidth) digits; write the address in ASCII")
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise EgressRefused(f"the host is not a valid internationalised name ({exc})") from None
        if _looks_numeric(ascii_host):
            raise EgressRefused("the host is an IP address written with non-ASCII characters; write it in ASCII")
        host = ascii_host.lower()
    if not _HOST_CHARS.match(host):
        raise EgressRefused("the host contains characters a host name cannot have")
    if _looks_numeric(host):
        return host, _canonical_ipv4(host)
    name = host[:-1] if host.endswith(".") else host
    if not name or not all(_LABEL.match(label) for label in name.split(".")) or len(name) > 253:
        raise EgressRefused(f'"{host}" is not a valid host name')
    return name, None


def _looks_numeric(host: str) -> bool:
    """Whether resolvers (and the WHATWG URL rules) read `host` as an IPv4 address: its last label is a number."""
    labels = host.lower().split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    return bool(labels) and bool(_NUMERIC_LABEL.match(labels[-1]))


def _canonical_ipv4(host: str) -> IPv4Address:
    if _CANONICAL_V4.match(host):
        try:
            return IPv4Address(host)
        except ValueError:
            raise EgressRefused(f"{host} is not a valid IPv4 address (each part is 0-255)") from None
    labels = host.split(".")
    if labels[-1] == "":
        form = "with a trailing dot"
    elif any(label.startswith("0x") for label in labels):
        form = "in hexadecimal"
    elif any(len(label) > 1 and label.startswith("0") for label in labels):
        form = "in octal (a leading zero)"
    elif len(labels) == 1:
        form = "as one decimal number"
    elif len(labels) < 4:
        form = "in a short form (fewer than four parts)"
    else:
        form = "in a form that is not four decimal numbers from 0 to 255"
    raise EgressRefused(f"{host} is an IPv4 address written {form}; write it as four decimal numbers (a.b.c.d)")


# --- the allow-list setting ------------------------------------------------------------------------


def parse_allowed(entries: Iterable[str]) -> tuple[tuple[Network, ...], frozenset[str], list[str]]:
    """JOBS_HTTP_ALLOWED_NETWORKS entries as (networks, host names, problems, one per bad entry)."""
    networks: list[Network] = []
    hosts: set[str] = set()
    problems: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry[:-1] if entry.endswith(".") else entry
        if (
            "/" in name
            or _looks_numeric(name)
            or ":" in name
            or not all(_LABEL.match(label) for label in name.split("."))
        ):
            problems.append(f"{raw!r}, which is neither a CIDR network (10.0.0.0/8), an IP address nor a host name")
            continue
        hosts.add(name)
    return tuple(networks), frozenset(hosts), problems


# --- the service's own endpoints -------------------------------------------------------------------

_DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "pgsql": 5432,
    "mysql": 3306,
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "pyamqp": 5672,
    "mongodb": 27017,
    "mongodb+srv": 27017,
}
_ENGINE_PORTS = {"postgresql": 5432, "mysql": 3306, "oracle": 1521, "django_mongodb_backend": 27017}


def service_endpoints(
    databases: Mapping[str, Mapping[str, Any]], urls: Iterable[str]
) -> frozenset[tuple[str, int | None]]:
    """(host, port) of the service's own database, cache and broker (port None: every port of that host)."""
    found: set[tuple[str, int | None]] = set()
    for config in databases.values():
        engine = str(config.get("ENGINE", ""))
        host = str(config.get("HOST") or "")
        if "sqlite" in engine or "dummy" in engine:
            continue
        if "://" in host:  # MongoDB: the URI is the host
            found |= _url_endpoints(host)
            continue
        port = config.get("PORT")
        default = next((p for name, p in _ENGINE_PORTS.items() if name in engine), None)
        try:
            number = int(port) if port else default
        except (TypeError, ValueError):
            number = default
        for name in [host] if host and not host.startswith("/") else ["localhost", "127.0.0.1", "::1"]:
            found.add((name.strip("[]").lower(), number))
    for url in urls:
        found |= _url_endpoints(url)
    return frozenset(found)


def _url_endpoints(url: str) -> set[tuple[str, int | None]]:
    if not url or "://" not in url:
        return set()
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme in ("filesystem", "memory", "sqlite", "file"):
        return set()
    netloc = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    default = _DEFAULT_PORTS.get(scheme)
    found: set[tuple[str, int | None]] = set()
    for item in netloc.split(","):  # MongoDB lists several hosts
        item = unquote(item)
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = item.partition(":")
        if host.endswith(".sock"):
            continue
        number: int | None = default
        if port.isdigit():
            number = int(port)
        if scheme == "mongodb+srv":
            number = None  # the SRV record names the ports
        if host:
            found.add((host.lower(), number))
    return found


# --- the policy ------------------------------------------------------------------------------------

Resolver = Callable[[str], Sequence[IPAddress]]


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal: itself)."""
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    answers = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(sa[0]).split("%", 1)[0]) for *_, sa in answers))


@dataclass
class Policy:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    services: frozenset[tuple[str, int | None]] = frozenset()
    resolver: Resolver = field(default=resolve, repr=False)
    _service_ips: tuple[float, frozenset[tuple[IPAddress, int | None]]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- URLs ---------------------------------------------------------------------------------------

    def check_url(self, url: Any) -> Target:
        """Parse `url` and decide what can be decided from the URL alone (no DNS). Raises EgressRefused."""
        target = parse_url(url)
        for host, port in self.services:
            if host == target.host and port in (None, target.port):
                raise EgressRefused(
                    f"{_where(target.host, target.port)} is this service's own database, cache or broker"
                )
        if target.ip is not None:
            self.check_address(target.ip, target.port, host=None)
        elif target.host == "localhost" or target.host.endswith(".localhost"):
            # RFC 6761: such names always mean the machine itself, whatever DNS says.
            for address in (IPv4Address("127.0.0.1"), IPv6Address("::1")):
                try:
                    self.check_address(address, target.port, host=None)
                    break
                except EgressRefused:
                    continue
            else:
                raise EgressRefused(f"{target.host} is a loopback name (this machine)")
        return target

    # -- addresses ----------------------------------------------------------------------------------

    def check_address(self, address: IPAddress, port: int, *, host: str | None) -> None:
        """Raise EgressRefused unless a connection to `address`:`port` (for URL host `host`) is allowed."""
        address = _unmapped(address)
        if self._is_service(address, port):
            raise EgressRefused(f"{_where(str(address), port)} is this service's own database, cache or broker")
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            try:
                self.check_address(embedded, port, host=host)
            except EgressRefused as exc:
                raise EgressRefused(f"{address} embeds the IPv4 address {embedded}: {exc.why}") from None
            return  # the IPv4 address it carries is where the packets go
        if address.is_unspecified:
            raise EgressRefused(f"{address} is the unspecified address")
        if address.is_multicast:
            raise EgressRefused(f"{address} is a multicast address")
        if address == _BROADCAST:
            raise EgressRefused(f"{address} is the broadcast address")
        if any(address in network for network in self.networks if network.version == address.version):
            return
        why, by_name = _classify(address)
        if why is None:
            return
        if by_name and host is not None and host.rstrip(".").lower() in self.hosts:
            return
        raise EgressRefused(f"{address} is {why}; an operator can allow it with {SETTING}")

    def _is_service(self, address: IPAddress, port: int) -> bool:
        return any(ip == address and wanted in (None, port) for ip, wanted in self._service_addresses())

    def _service_addresses(self) -> frozenset[tuple[IPAddress, int | None]]:
        now = time.monotonic()
        cached = self._service_ips
        if cached is not None and now - cached[0] < SERVICE_ADDRESS_TTL_SECONDS:
            return cached[1]
        with self._lock:
            found: set[tuple[IPAddress, int | None]] = set()
            for host, port in self.services:
                try:
                    addresses = self.resolver(host)
                except (OSError, UnicodeError, ValueError):
                    addresses = []  # a host that does not resolve cannot be connected to either
                found.update((_unmapped(address), port) for address in addresses)
            self._service_ips = (now, frozenset(found))
            return self._service_ips[1]


def _where(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    if not isinstance(address, IPv6Address):
        return None
    if any(address in network for network in _NAT64):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _classify(address: IPAddress) -> tuple[str | None, bool]:
    """Why `address` is not public (None: it is), and whether a host-name entry may allow it."""
    rules: Sequence[tuple[Network, str, bool]] = _V4_RULES if address.version == 4 else _V6_RULES
    for network, why, by_name in rules:
        if address in network:
            return why, by_name
    if not address.is_global or address.is_reserved:
        return "a reserved or special-purpose address (not a public one)", False
    return None, False


@lru_cache(maxsize=16)
def _policy(allowed: tuple[str, ...], services: frozenset[tuple[str, int | None]]) -> Policy:
    networks, hosts, _ = parse_allowed(allowed)
    return Policy(networks=networks, hosts=hosts, services=services)


def policy_for(settings: Any) -> Policy:
    """The policy the given settings describe (Django's `settings`, passed in: this module stays Django-free).

    Cached per distinct configuration, so the service hosts' addresses are resolved once a minute at most.
    """
    urls = [getattr(settings, "REDIS_URL", "") or "", getattr(settings, "CELERY_BROKER_URL", "") or ""]
    services = service_endpoints(getattr(settings, "DATABASES", {}) or {}, urls)
    return _policy(tuple(getattr(settings, SETTING, ()) or ()), services)
