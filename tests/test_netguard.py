"""SSRF guard: unit checks on addresses, and untrusted fetches against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from spyglass.sources.fetch import Fetcher, FetchResult
from spyglass.sources.netguard import AddressGuard
from support.feedserver import FeedServer

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
PUBLIC = "93.184.216.34"


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def fake_resolver(table: dict[str, Sequence[str]]) -> Any:
    """A resolver that never touches DNS: literal IPs resolve to themselves, names via ``table``."""
    import ipaddress

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in table:
            raise OSError(f"unknown host {host}")
        return list(table[host])

    return resolve


def untrusted(url: str, guard: AddressGuard, **kwargs: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(guard=guard, **kwargs) as fetcher:
            return await fetcher.fetch(url, trusted=False)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one decimal number
        ("http://0x7f000001/", "loopback"),
        ("http://localhost:8080/feed", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://192.168.1.1/", "private"),
        ("http://172.16.0.9/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://[::ffff:10.0.0.1]/", "private address (embedded in IPv6)"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", "unspecified"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://240.0.0.1/", "240.0.0.1 is a"),
        ("ftp://example.com/feed.xml", "refused: scheme ftp: is not http or https"),
        ("file:///etc/passwd", "refused: scheme file: is not http or https"),
        ("gopher://example.com/", "scheme"),
        ("//example.com/feed", "scheme"),
        ("http:///nohost", "no host"),
        ("http://bad host/", "invalid host name"),
        ("http://a..b/", "invalid host name"),
    ],
)
def test_refusals(url: str, why: str) -> None:
    reason = AddressGuard().check(url)
    assert reason is not None and reason.startswith("refused:")
    assert why in reason
    assert "\n" not in reason


def test_any_internal_address_among_several_refuses() -> None:
    guard = AddressGuard(resolver=fake_resolver({"mixed.test": [PUBLIC, "10.0.0.7"]}))
    assert (
        guard.check("https://mixed.test/feed")
        == "refused: mixed.test resolves to 10.0.0.7, a private address"
    )


def test_public_addresses_allowed() -> None:
    guard = AddressGuard(resolver=fake_resolver({"news.example.com": [PUBLIC, "2606:4700::1111"]}))
    assert guard.check("https://news.example.com/rss") is None
    assert guard.check("http://8.8.8.8/") is None
    assert guard.check("HTTPS://News.Example.COM./rss") is None


def test_unresolvable_host_refused() -> None:
    guard = AddressGuard(resolver=fake_resolver({}))
    reason = guard.check("https://no-such-host.test/")
    assert reason is not None and reason.startswith("refused: cannot resolve no-such-host.test")


def test_allow_hosts() -> None:
    guard = AddressGuard(
        allow_hosts=["localhost", "intranet.test:8080", "[::1]"],
        resolver=fake_resolver({"localhost": ["127.0.0.1"], "intranet.test": ["10.0.0.5"]}),
    )
    assert guard.check("http://localhost:1234/feed") is None
    assert guard.check("http://LOCALHOST/feed") is None
    assert guard.check("http://intranet.test:8080/feed") is None
    assert guard.check("http://intranet.test:9090/feed") is not None  # other port not allowed
    assert guard.check("http://[::1]/feed") is None
    assert guard.check("http://127.0.0.1/feed") is not None  # allowing a name does not allow its IP
    assert guard.check("ftp://localhost/feed") is not None  # scheme still checked


def test_allow_networks() -> None:
    guard = AddressGuard(allow_networks=["10.20.0.0/16", "fd00::/8"])
    assert guard.check("http://10.20.3.4/") is None
    assert guard.check("http://[::ffff:10.20.3.4]/") is None
    assert guard.check("http://[fd12::1]/") is None
    assert guard.check("http://10.21.0.1/") is not None
    assert guard.check("http://127.0.0.1/") is not None


def test_check_address() -> None:
    guard = AddressGuard()
    assert guard.check_address("1.1.1.1") is None
    assert guard.check_address("127.0.0.1") == "127.0.0.1 is a loopback address"
    assert guard.check_address("fe80::1%eth0") == "fe80::1 is a link-local address"
    assert guard.check_address("not-an-ip") is not None


# ---- through the fetcher -----------------------------------------------------------------------


def test_untrusted_fetch_of_loopback_refused_before_any_request(srv: FeedServer) -> None:
    srv.route("/feed.xml", FEED)
    r = untrusted(srv.url("/feed.xml"), AddressGuard())
    assert r.kind == "error" and r.error == "refused: 127.0.0.1 is a loopback address"
    assert srv.count() == 0


def test_trusted_fetch_skips_guard(srv: FeedServer) -> None:
    srv.route("/feed.xml", FEED)

    async def go() -> FetchResult:
        async with Fetcher(guard=AddressGuard()) as fetcher:
            return await fetcher.fetch(srv.url("/feed.xml"))  # trusted is the default

    r = asyncio.run(go())
    assert r.kind == "ok" and r.body == FEED


def test_allowed_first_hop_refused_second_hop(srv: FeedServer) -> None:
    """A 'public' host (allowed by name) redirects to 127.0.0.1 by IP: refused at the hop."""
    srv.route("/feed.xml", redirect=srv.url("/secret"))
    srv.route("/secret", b"internal data")
    guard = AddressGuard(
        allow_hosts=["feeds.example.test"], resolver=fake_resolver({"feeds.example.test": ["127.0.0.1"]})
    )
    r = untrusted(f"http://feeds.example.test:{srv.port}/feed.xml", guard)
    assert r.kind == "error" and r.error == "refused: 127.0.0.1 is a loopback address"
    assert r.url == srv.url("/secret") and r.redirects == 1
    assert [q.route for q in srv.requests] == ["/feed.xml"]  # /secret never requested
    assert srv.last("/feed.xml").headers["host"] == f"feeds.example.test:{srv.port}"


def test_redirect_to_internal_name_refused(srv: FeedServer) -> None:
    srv.route("/feed.xml", redirect="http://metadata.internal.test/latest/meta-data/")
    guard = AddressGuard(
        allow_hosts=["feeds.example.test"],
        resolver=fake_resolver(
            {"feeds.example.test": ["127.0.0.1"], "metadata.internal.test": ["169.254.169.254"]}
        ),
    )
    r = untrusted(f"http://feeds.example.test:{srv.port}/feed.xml", guard)
    assert r.error == "refused: metadata.internal.test resolves to 169.254.169.254, a link-local address"


def test_redirect_to_other_scheme_refused(srv: FeedServer) -> None:
    srv.route("/feed.xml", redirect="file:///etc/passwd")
    guard = AddressGuard(allow_hosts=["localhost"], resolver=fake_resolver({"localhost": ["127.0.0.1"]}))
    r = untrusted(f"http://localhost:{srv.port}/feed.xml", guard)
    assert r.kind == "error" and "file" in r.error


def test_allowed_chain_succeeds(srv: FeedServer) -> None:
    srv.route("/a", redirect=f"http://localhost:{srv.port}/b")
    srv.route("/b", FEED)
    guard = AddressGuard(allow_hosts=["localhost"], resolver=fake_resolver({"localhost": ["127.0.0.1"]}))
    r = untrusted(f"http://localhost:{srv.port}/a", guard)
    assert r.kind == "ok" and r.body == FEED


def test_allow_networks_lets_untrusted_fetch_through(srv: FeedServer) -> None:
    srv.route("/feed.xml", FEED)
    r = untrusted(srv.url("/feed.xml"), AddressGuard(allow_networks=["127.0.0.0/8"]))
    assert r.kind == "ok"


def test_dns_rebinding_refused_at_connect_time(srv: FeedServer) -> None:
    """First lookup (the URL check) says public; the lookup at connect time says loopback."""
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        assert host == "rebind.test"
        return next(answers)

    srv.route("/feed.xml", FEED)
    guard = AddressGuard(resolver=rebinding)
    r = untrusted(f"http://rebind.test:{srv.port}/feed.xml", guard)
    assert r.kind == "error" and r.error == "refused: rebind.test resolves to 127.0.0.1, a loopback address"
    assert srv.count() == 0  # nothing connected, nothing sent


def test_peer_address_checked_when_connect_time_guard_is_absent(srv: FeedServer) -> None:
    """With a plain transport (no guarded backend), the peer address check still refuses the body."""
    srv.route("/feed.xml", b"internal data")
    # The guard believes "localhost" is public; the system resolver connects to 127.0.0.1.
    guard = AddressGuard(resolver=fake_resolver({"localhost": [PUBLIC]}))
    r = untrusted(f"http://localhost:{srv.port}/feed.xml", guard, transport=httpx.AsyncHTTPTransport())
    assert r.kind == "error" and r.error.startswith("refused: peer") and "loopback" in r.error
    assert r.body == b""
