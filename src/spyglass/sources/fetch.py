"""Fetch feeds over HTTP without ever hanging, exploding or probing the internal network.

One shared ``httpx.AsyncClient`` per trust level; every fetch is bounded by a connect timeout, a
per-read timeout, a total deadline, a byte cap on the *decoded* body (so a gzip bomb stops at the
cap), and a redirect limit. Redirects are followed by hand so that, for untrusted sources, each hop
is checked by the :class:`~spyglass.sources.netguard.AddressGuard`; untrusted connections also go
through :class:`~spyglass.sources.transport.GuardedTransport`, which re-resolves and checks the
address at connect time (DNS rebinding), and the peer address of the connection is checked again
once the response arrives. ``fetch`` never raises for network or HTTP problems: it returns a
``FetchResult`` whose ``error`` is one human line. No message ever contains URL credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx

from spyglass import __version__
from spyglass.sources.decode import DecodeError, Decoder
from spyglass.sources.netguard import AddressGuard, AddressRefused
from spyglass.sources.transport import GuardedTransport
from spyglass.urls import redact_url

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"Spyglass/{__version__} (+https://github.com/spyglass-news/spyglass)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Kind = Literal["ok", "not_modified", "error", "gone"]


@dataclass
class FetchResult:
    kind: Kind  # "gone" = 404/410 (410 means: disable the source)
    url: str  # final URL after redirects (credentials included only if the caller's URL had them)
    http_status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    error: str = ""  # one human line; never contains credentials
    elapsed: float = 0.0
    redirects: int = 0  # hops followed

    @property
    def safe_url(self) -> str:
        """``url`` without any user:password@ part, for logs and messages."""
        return redact_url(self.url)


@dataclass
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    trusted: bool = True


class _Failure(Exception):
    """Internal: ends a fetch with kind="error" and this message."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date. None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 7 * 86400.0))


def _size(n: int) -> str:
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _secs(s: float) -> str:
    return f"{s:g} s"


class Fetcher:
    """Fetches URLs concurrently and defensively. Use one per process; ``await aclose()`` at the end."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        deadline: float = 30.0,
        max_bytes: int = 15 * 2**20,
        max_redirects: int = 5,
        concurrency: int = 16,
        per_host: int = 4,
        guard: AddressGuard | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = False,
    ) -> None:
        """``transport`` replaces the network for both trust levels (tests); ``trust_env`` lets
        *trusted* fetches use proxy/CA settings from the environment (untrusted ones never do, so
        the guard sees the real destination)."""
        self.user_agent = user_agent
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.concurrency = max(1, concurrency)
        self.per_host = max(1, per_host)
        self.guard = guard or AddressGuard()
        self._sem = asyncio.Semaphore(self.concurrency)
        self._host_sems: dict[str, asyncio.Semaphore] = {}
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency, keepalive_expiry=30
        )
        client_timeout = httpx.Timeout(timeout, connect=connect_timeout)
        headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}

        def client(transport: httpx.AsyncBaseTransport | None, env: bool) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport,
                limits=limits,
                timeout=client_timeout,
                headers=headers,
                follow_redirects=False,
                trust_env=env,
            )

        # Each client loads the CA bundle when made (~30 ms here): the guarded one only when an
        # untrusted source is fetched, which most polls (the config file's feeds) never do.
        self._trusted = client(transport, False) if transport is not None else client(None, trust_env)
        self._guarded: httpx.AsyncClient | None = self._trusted if transport is not None else None
        self._make_guarded = lambda: client(GuardedTransport(self.guard, limits=limits), False)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._trusted.aclose()
        if self._guarded is not None and self._guarded is not self._trusted:
            await self._guarded.aclose()

    @property
    def _untrusted(self) -> httpx.AsyncClient:
        if self._guarded is None:
            self._guarded = self._make_guarded()
        return self._guarded

    def _host_sem(self, url: str) -> asyncio.Semaphore:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        sem = self._host_sems.get(host)
        if sem is None:
            sem = self._host_sems[host] = asyncio.Semaphore(self.per_host)
        return sem

    async def fetch_many(self, requests: Sequence[FetchRequest]) -> list[FetchResult]:
        """Fetch all concurrently (bounded by ``concurrency`` and ``per_host``); results in input order."""
        return list(
            await asyncio.gather(
                *(
                    self.fetch(r.url, etag=r.etag, last_modified=r.last_modified, trusted=r.trusted)
                    for r in requests
                )
            )
        )

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
    ) -> FetchResult:
        """GET ``url`` (conditionally, when etag/last_modified are given). Never raises for network or
        HTTP problems; cancellation still propagates."""
        url = url.strip()
        async with self._host_sem(url), self._sem:  # host first: never hold a global slot while queued
            started = time.monotonic()
            state = _State(url=url)
            try:
                async with asyncio.timeout(self.deadline):
                    result = await self._fetch(url, etag, last_modified, trusted, state)
            except TimeoutError:
                result = self._error(state, f"timed out after {_secs(self.deadline)}")
            except (_Failure, DecodeError) as exc:
                result = self._error(state, str(exc))
            except AddressRefused as exc:
                result = self._error(state, str(exc))
            except httpx.ConnectTimeout:
                result = self._error(state, f"connect timed out after {_secs(self.connect_timeout)}")
            except httpx.ReadTimeout:
                result = self._error(state, f"no data for {_secs(self.timeout)} (read timeout)")
            except httpx.TimeoutException:
                result = self._error(state, f"timed out after {_secs(self.timeout)}")
            except httpx.InvalidURL as exc:
                result = self._error(state, f"invalid URL: {exc}")
            except httpx.UnsupportedProtocol as exc:  # "Request URL has an unsupported protocol 'ftp://'."
                result = self._error(state, _exc_line(exc))
            except httpx.ConnectError as exc:
                result = self._error(state, f"cannot connect: {_exc_line(exc)}")
            except httpx.RemoteProtocolError as exc:
                result = self._error(state, f"protocol error: {_exc_line(exc)}")
            except httpx.HTTPError as exc:
                result = self._error(state, f"{type(exc).__name__}: {_exc_line(exc)}")
            except (OSError, ValueError) as exc:
                result = self._error(state, f"{type(exc).__name__}: {_exc_line(exc)}")
            result.elapsed = time.monotonic() - started
            result.error = _scrub(result.error, url, state.url)
            if result.kind == "error":
                log.info("fetch %s failed: %s", redact_url(state.url), result.error)
            return result

    def _error(self, state: _State, message: str) -> FetchResult:
        return FetchResult(
            kind="error", url=state.url, http_status=state.status, error=message, redirects=state.redirects
        )

    async def _fetch(
        self, url: str, etag: str | None, last_modified: str | None, trusted: bool, state: _State
    ) -> FetchResult:
        client = self._trusted if trusted else self._untrusted
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # Credentials leave the URL (httpx logs request URLs) and travel as explicit Basic auth,
        # only to the origin they were given for.
        start = httpx.URL(url)
        origin_auth = _basic_auth(start)
        origin = _origin(start)
        seen: set[str] = set()
        current = start
        while True:
            state.status = None
            hop_auth = _basic_auth(current) or (origin_auth if _origin(current) == origin else None)
            current = current.copy_with(userinfo=b"") if current.userinfo else current
            if not trusted:
                reason = await asyncio.to_thread(self.guard.check, str(current))
                if reason:
                    raise _Failure(reason)
            request = client.build_request("GET", current, headers=headers)
            seen.add(str(request.url))
            response = await client.send(request, stream=True, auth=hop_auth)
            try:
                state.status = response.status_code
                if not trusted:
                    self._check_peer(response, request.url)
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location", "").strip()
                    if not location:
                        raise _Failure(f"HTTP {response.status_code} redirect without a Location")
                    try:
                        target = request.url.join(location)
                    except (httpx.InvalidURL, ValueError) as exc:
                        raise _Failure(f"bad redirect Location: {_exc_line(exc)}") from None
                    # Report the hop we were sent to (credentials restored only on the same origin).
                    state.url = str(
                        target.copy_with(userinfo=start.userinfo)
                        if (start.userinfo and not target.userinfo and _origin(target) == origin)
                        else target
                    )
                    if target.scheme not in ("http", "https"):
                        raise _Failure(f"redirect to unsupported scheme {target.scheme}:")
                    if str(target.copy_with(userinfo=b"")) in seen:
                        raise _Failure("redirect loop")
                    if state.redirects >= self.max_redirects:
                        raise _Failure(f"too many redirects (more than {self.max_redirects})")
                    state.redirects += 1
                    current = target
                    continue
                return await self._finish(response, state, etag, last_modified)
            finally:
                await response.aclose()

    def _check_peer(self, response: httpx.Response, url: httpx.URL) -> None:
        """Defence in depth against DNS rebinding: check the address we actually talked to."""
        if self.guard.host_allowed(url.host, url.port or (443 if url.scheme == "https" else 80)):
            return
        stream = response.extensions.get("network_stream")
        if stream is None:
            return
        try:
            peer = stream.get_extra_info("server_addr")
        except Exception:  # best effort: transports differ
            return
        if isinstance(peer, tuple) and peer:
            why = self.guard.check_address(str(peer[0]))
            if why:
                raise _Failure(f"refused: peer {why}")

    async def _finish(
        self, response: httpx.Response, state: _State, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        result = FetchResult(
            kind="ok",
            url=state.url,
            http_status=status,
            headers=headers,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            redirects=state.redirects,
        )
        if status == 304:
            result.kind = "not_modified"
            result.etag = result.etag or etag
            result.last_modified = result.last_modified or last_modified
            return result
        if status in (429, 503):
            result.retry_after = parse_retry_after(headers.get("retry-after"))
        if status in (404, 410):
            result.kind = "gone"
            result.error = f"HTTP {status}" + (" (gone)" if status == 410 else " (not found)")
            return result
        if not 200 <= status < 300:
            result.kind = "error"
            result.error = f"HTTP {status}"
            if result.retry_after is not None:
                result.error += f" (retry after {result.retry_after:.0f} s)"
            return result
        result.body = await self._read_body(response)
        return result

    async def _read_body(self, response: httpx.Response) -> bytes:
        cap = self.max_bytes
        too_big = f"body larger than {_size(cap)} cap"
        decoder = Decoder(response.headers.get("content-encoding", ""))  # DecodeError: caught in fetch()
        declared = response.headers.get("content-length", "")
        if not decoder.name and declared.isdigit() and int(declared) > cap:
            raise _Failure(too_big)
        chunks: list[bytes] = []
        total = 0
        raw_total = 0
        async for raw in response.aiter_raw():
            raw_total += len(raw)
            if raw_total > cap:
                raise _Failure(too_big)
            piece = decoder.decode(raw, cap - total)
            total += len(piece)
            if total > cap:
                raise _Failure(too_big)
            chunks.append(piece)
        tail = decoder.flush()
        total += len(tail)
        if total > cap:
            raise _Failure(too_big)
        chunks.append(tail)
        return b"".join(chunks)


@dataclass
class _State:
    url: str
    status: int | None = None
    redirects: int = 0


def _basic_auth(url: httpx.URL) -> httpx.BasicAuth | None:
    return httpx.BasicAuth(url.username, url.password) if url.userinfo else None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _exc_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _scrub(message: str, *urls: str) -> str:
    """Remove any credentials of the given URLs from a message."""
    for url in urls:
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            if "@" in parts.netloc:
                userinfo = parts.netloc.rpartition("@")[0]
                message = message.replace(userinfo + "@", "")
                if parts.password:
                    message = message.replace(parts.password, "***")
    return message
