"""The egress policy as a table: each dangerous URL form refused with its reason, public ones allowed."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import pytest

from jobs.execution import egress
from jobs.execution.egress import EgressRefused, Policy

SERVICES = egress.service_endpoints(
    {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": "db.internal", "PORT": "5432"}},
    ["redis://cache.internal:6379/0", "amqp://guest:guest@broker.internal//"],
)


def _resolver(host: str) -> list[Any]:
    # The service's own hosts, as the resolver would answer (no DNS in a table test).
    return {
        "db.internal": [ip_address("10.0.0.5")],
        "cache.internal": [ip_address("10.0.0.6")],
        "broker.internal": [ip_address("10.0.0.7")],
    }[host]


DEFAULT = Policy(services=SERVICES, resolver=_resolver)

REFUSED = [
    # ambiguous forms
    ("http://user:pass@example.com/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("http://example.com@127.0.0.1/", "credentials"),
    ("http://example.com\\@127.0.0.1/", "backslash"),
    ("http:\\\\127.0.0.1\\", "backslash"),
    ("http://2130706433/", "as one decimal number"),
    ("http://0x7f000001/", "hexadecimal"),
    ("http://0x7f.1/", "hexadecimal"),
    ("http://0x7f.0x0.0x0.0x1/", "hexadecimal"),
    ("http://0177.0.0.1/", "octal"),
    ("http://0177.1/", "octal"),
    ("http://127.1/", "short form"),
    ("http://127.0.1/", "short form"),
    ("http://10.1/", "short form"),
    ("http://127.0.0.1./", "trailing dot"),
    ("http://256.0.0.1/", "not a valid IPv4 address"),
    ("http://1.2.3.4.5/", "not four decimal numbers"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "non-ASCII"),  # fullwidth digits
    ("http://127\u30020\u30020\u30021/", "non-ASCII"),  # ideographic full stops
    ("http://\u0661\u0662\u0667.\u0660.\u0660.\u0661/", "non-ASCII"),  # Arabic-Indic digits
    ("http://%31%32%37.0.0.1/", "percent-encoded"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped"),
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://[not-ipv6]/", "IPv6"),
    ("ftp://example.com/", 'scheme is "ftp"'),
    ("file:///etc/passwd", 'scheme is "file"'),
    ("gopher://127.0.0.1:6379/_INFO", 'scheme is "gopher"'),
    ("javascript:alert(1)", 'scheme is "javascript"'),
    ("//example.com/", "scheme is none"),
    ("http:///path", "no host"),
    ("http://exa mple.com/", "spaces or control characters"),
    ("http://example.com:0/", "port"),
    ("http://example.com:65536/", "port"),
    ("http://ex_ample..com/", "not a valid host name"),
    # loopback, link-local, unspecified, multicast, reserved
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8000/admin/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://localhost/", "loopback name"),
    ("http://api.localhost:8000/", "loopback name"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.0.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://0.1.2.3/", "reserved"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
    ("http://[::127.0.0.1]/", "reserved"),
    # private ranges (not allowed by default)
    ("http://10.0.0.1/", "a private address"),
    ("http://172.16.0.1/", "a private address"),
    ("http://172.31.255.255/", "a private address"),
    ("http://192.168.1.1/", "a private address"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://[fd00::1]/", "unique-local"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fec0::1]/", "site-local"),
    # IPv4 carried in IPv6
    ("http://[64:ff9b::7f00:1]/", "embeds the IPv4 address 127.0.0.1"),
    ("http://[64:ff9b::a9fe:a9fe]/", "embeds the IPv4 address 169.254.169.254"),
    ("http://[2002:7f00:1::]/", "embeds the IPv4 address 127.0.0.1"),
    ("http://[2002:a00:1::1]/", "embeds the IPv4 address 10.0.0.1"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "embeds the IPv4 address 127.0.0.1"),
    # the service's own database, cache and broker, by name
    ("http://db.internal:5432/", "this service's own"),
    ("http://cache.internal:6379/", "this service's own"),
    ("http://broker.internal:5672/", "this service's own"),
]

ALLOWED = [
    ("http://example.com/", "http://example.com/"),
    ("https://example.com/hook?x=1", "https://example.com/hook?x=1"),
    ("HTTPS://Example.COM:443/a", "https://example.com/a"),
    ("http://example.com:8080/", "http://example.com:8080/"),
    ("http://example.com./", "http://example.com/"),
    ("http://reports.internal/run", "http://reports.internal/run"),
    ("http://db.internal/", "http://db.internal/"),  # another port of the database host
    ("http://8.8.8.8/", "http://8.8.8.8/"),
    ("http://93.184.216.34:8443/x", "http://93.184.216.34:8443/x"),
    ("http://172.32.0.1/", "http://172.32.0.1/"),
    ("http://[2606:4700:4700::1111]/", "http://[2606:4700:4700::1111]/"),
    ("http://[2606:4700:4700:0:0:0:0:1111]/", "http://[2606:4700:4700::1111]/"),
    ("http://[2002:808:808::1]/", "http://[2002:808:808::1]/"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://0x7f.example.com/", "http://0x7f.example.com/"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[url for url, _ in REFUSED])
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        DEFAULT.check_url(url)
    assert why in refused.value.why


@pytest.mark.parametrize(("url", "normalised"), ALLOWED, ids=[url for url, _ in ALLOWED])
def test_public_urls_are_allowed_and_normalised(url: str, normalised: str) -> None:
    assert DEFAULT.check_url(url).url == normalised


def test_an_allowed_network_allows_private_and_loopback_addresses() -> None:
    policy = Policy(networks=(ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")), resolver=_resolver)
    assert policy.check_url("http://10.1.2.3/").ip == ip_address("10.1.2.3")
    assert policy.check_url("http://127.0.0.1:8000/").port == 8000
    assert policy.check_url("http://localhost:8000/").host == "localhost"
    with pytest.raises(EgressRefused, match="loopback"):
        policy.check_url("http://127.0.0.2/")
    with pytest.raises(EgressRefused, match="private"):
        policy.check_url("http://192.168.0.1/")


def test_the_services_own_ports_stay_refused_inside_an_allowed_network() -> None:
    policy = Policy(networks=(ip_network("10.0.0.0/8"),), services=SERVICES, resolver=_resolver)
    policy.check_address(ip_address("10.0.0.5"), 80, host="db.internal")
    for address, port in (("10.0.0.5", 5432), ("10.0.0.6", 6379), ("10.0.0.7", 5672), ("::ffff:10.0.0.5", 5432)):
        with pytest.raises(EgressRefused, match="this service's own"):
            policy.check_address(ip_address(address), port, host=None)


def test_a_listed_host_name_allows_the_private_addresses_it_resolves_to_only() -> None:
    networks, hosts, problems = egress.parse_allowed(["intranet.example"])
    policy = Policy(networks=networks, hosts=hosts)
    assert not problems
    policy.check_address(ip_address("10.0.0.9"), 80, host="intranet.example")
    policy.check_address(ip_address("10.0.0.9"), 80, host="INTRANET.example.")
    with pytest.raises(EgressRefused, match="private"):
        policy.check_address(ip_address("10.0.0.9"), 80, host="other.example")
    for forbidden in ("127.0.0.1", "169.254.169.254", "0.0.0.0"):
        with pytest.raises(EgressRefused):
            policy.check_address(ip_address(forbidden), 80, host="intranet.example")


def test_unspecified_and_multicast_stay_refused_even_when_listed() -> None:
    policy = Policy(networks=(ip_network("0.0.0.0/0"),))
    for address in ("0.0.0.0", "224.0.0.1", "255.255.255.255"):
        with pytest.raises(EgressRefused):
            policy.check_address(ip_address(address), 80, host=None)


@pytest.mark.parametrize(
    ("entry", "ok"),
    [
        ("10.0.0.0/8", True),
        ("192.168.1.10", True),
        ("fd00::/8", True),
        ("intranet.example", True),
        ("127.1", False),
        ("10.0.0.0/33", False),
        ("http://x/", False),
        ("bad host", False),
    ],
)
def test_allow_list_entries_are_networks_addresses_or_host_names(entry: str, ok: bool) -> None:
    assert (not egress.parse_allowed([entry])[2]) is ok


def test_service_endpoints_come_from_every_url_kind() -> None:
    found = egress.service_endpoints(
        {
            "default": {"ENGINE": "django_mongodb_backend", "HOST": "mongodb://u:p@m1:27017,m2:27018/?rs=x"},
            "other": {"ENGINE": "django.db.backends.postgresql", "HOST": "", "PORT": ""},
            "file": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"},
        },
        ["redis://:secret@[::1]:6380/2", "filesystem://", "mongodb+srv://cluster.example/"],
    )
    assert found == {
        ("m1", 27017),
        ("m2", 27018),
        ("localhost", 5432),
        ("127.0.0.1", 5432),
        ("::1", 5432),
        ("::1", 6380),
        ("cluster.example", None),
    }


def test_the_policy_of_the_settings_refuses_the_lanes_own_services(settings: Any) -> None:
    if not settings.REDIS_URL.startswith("redis://127.0.0.1"):
        pytest.skip("the lane's Redis is not on 127.0.0.1")
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1"]
    policy = egress.policy_for(settings)
    redis = urlsplit(settings.REDIS_URL)
    with pytest.raises(EgressRefused, match="this service's own"):
        policy.check_address(ip_address("127.0.0.1"), redis.port or 6379, host=None)
    policy.check_address(ip_address("127.0.0.1"), 8000, host=None)
