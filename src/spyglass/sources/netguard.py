"""Refuse to fetch internal addresses on behalf of untrusted sources (SSRF guard).

Sources added from Slack by channel members are *untrusted*: a URL such as
``http://169.254.169.254/latest/meta-data/`` or ``http://localhost:5432/`` must not make the bot
probe its own network. Sources from the config file are trusted and never pass through here.

What the guard does:

* ``AddressGuard.check(url)`` refuses non-http(s) schemes, and hosts that resolve (every address
  ``getaddrinfo`` returns, not just the first) to loopback, private, link-local, multicast,
  reserved, unspecified, CGNAT (100.64.0.0/10) or otherwise non-global addresses, including the same
  addresses dressed as IPv4-mapped IPv6 (``::ffff:127.0.0.1``), NAT64 (``64:ff9b::/96``) or 6to4.
  Numeric oddities (``2130706433``, ``0x7f000001``, ``127.1``) are caught because they go through the
  resolver like any other name.
* ``allow_hosts`` (exact names, or ``name:port``) and ``allow_networks`` (CIDRs) make exceptions.
* ``GuardedNetworkBackend`` (used by :mod:`spyglass.sources.fetch` for untrusted requests) resolves
  the host again *at connect time*, checks every address, and connects to the vetted IP itself
  (TLS still verifies and sends SNI for the original host name). So a DNS-rebinding answer that
  changes between the check and the connection is refused, and nothing ever connects to an address
  that was not checked.

What remains (documented, not solved here): the guard does not apply when an HTTP proxy is used
(the untrusted client never reads proxy settings from the environment for that reason); a host in
``allow_hosts`` is trusted whatever it resolves to; and redirects are checked hop by hop by the
fetcher, not here.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port) -> [ip, ...]``; raises ``OSError`` when the name does not resolve."""

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Letters, digits, hyphens, underscores and dots (IDNs arrive here already in punycode from httpx,
# or as Unicode from urlsplit: \w admits those); nothing that could confuse a resolver.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[\w-]+(?:\.[\w-]+)*$")


class AddressRefused(Exception):
    """Raised at connect time when the guard refuses the address; ``str(exc)`` is the one-line reason."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host`` (deduplicated, order kept)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 scope id ("fe80::1%eth0")
        seen.setdefault(addr, None)
    return list(seen)


def classify(ip: IPAddress) -> str | None:
    """Why an address is not a public one (e.g. "a loopback address"), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = classify(embedded)
            return f"{inner} (embedded in IPv6)" if inner else None
        if ip.sixtofour is not None and (inner := classify(ip.sixtofour)):
            return f"{inner} (embedded in 6to4)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class AddressGuard:
    """Decides whether an untrusted URL may be fetched. Thread-safe; holds no mutable state."""

    def __init__(
        self,
        allow_hosts: Sequence[str] = (),
        allow_networks: Sequence[str] = (),
        *,
        resolver: Resolver | None = None,
    ) -> None:
        self._hosts: set[str] = set()
        self._host_ports: set[tuple[str, int]] = set()
        for entry in allow_hosts:
            host, port = _split_host_port(entry)
            if port is None:
                self._hosts.add(host)
            else:
                self._host_ports.add((host, port))
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in allow_networks
        )
        self.resolver: Resolver = resolver or system_resolver

    def host_allowed(self, host: str, port: int | None = None) -> bool:
        """True when the host (or host:port) is explicitly allowed, whatever it resolves to."""
        host = _norm_host(host)
        return host in self._hosts or (port is not None and (host, port) in self._host_ports)

    def check_address(self, address: str) -> str | None:
        """None when a connection to this IP is acceptable, else "<ip> is a loopback address" etc."""
        found = self._problem(address)
        return f"{found[0]} is {found[1]}" if found else None

    def _problem(self, address: str) -> tuple[str, str] | None:
        """(ip, "a loopback address") when the address is refused, else None."""
        try:
            ip = ipaddress.ip_address(_norm_host(address).split("%", 1)[0])
        except ValueError:
            return address, "not an IP address"
        if any(ip in net for net in self._networks if net.version == ip.version):
            return None
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None and any(mapped in net for net in self._networks if net.version == 4):
            return None
        why = classify(ip)
        return (str(ip), why) if why else None

    def resolve_checked(self, host: str, port: int) -> tuple[list[str], str | None]:
        """Resolve ``host`` and check every address: ``(addresses, None)`` or ``(addresses, reason)``.

        For an allowed host the addresses come back unchecked. Blocking (DNS): call from a thread.
        """
        host = _norm_host(host)
        if _literal_ip(host) is None and not _HOSTNAME.match(host):
            return [], f"refused: invalid host name {host[:100]!r}"
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return [], f"refused: cannot resolve {host} ({reason})"
        if not addresses:
            return [], f"refused: {host} has no addresses"
        if self.host_allowed(host, port):
            return addresses, None
        for address in addresses:
            found = self._problem(address)
            if found:
                ip, why = found
                if _literal_ip(host) is not None and _literal_ip(ip) == _literal_ip(host):
                    return addresses, f"refused: {ip} is {why}"
                return addresses, f"refused: {host} resolves to {ip}, {why}"
        return addresses, None

    def check(self, url: str) -> str | None:
        """None when ``url`` may be fetched, else a one-line reason starting with "refused:".

        Blocking (it resolves the host name): from async code call it in a thread.
        """
        try:
            parts = urlsplit(url.strip())
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            return "refused: malformed URL"
        if scheme not in ("http", "https"):
            return f"refused: scheme {scheme + ':' if scheme else '(none)'} is not http or https"
        if not host:
            return "refused: URL has no host"
        if port is None:
            port = 443 if scheme == "https" else 80
        return self.resolve_checked(host, port)[1]


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split_host_port(entry: str) -> tuple[str, int | None]:
    entry = entry.strip()
    if entry.startswith("["):  # [::1]:8080 or [::1]
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return _norm_host(host), int(port) if port.isdigit() else None
    if entry.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        host, _, port = entry.partition(":")
        if port.isdigit():
            return _norm_host(host), int(port)
    return _norm_host(entry), None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only ever connects to addresses the guard has vetted.

    It resolves the origin host through ``guard.resolver`` at connect time, refuses (raising
    :class:`AddressRefused`) if any address is internal, and then connects to the checked IPs in
    turn. TLS is started afterwards by httpcore with the original host name, so certificate checks
    and SNI are unaffected.
    """

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses, reason = await anyio.to_thread.run_sync(self.guard.resolve_checked, host, port)
        if reason:
            raise AddressRefused(reason)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
