"""A small real HTTP server on 127.0.0.1 for tests: configurable routes, counting, header recording.

Usage::

    from support.feedserver import FeedServer, clear_proxy_env

    @pytest.fixture(autouse=True)
    def _no_proxy(monkeypatch):
        clear_proxy_env(monkeypatch)          # tests must never reach a proxy or the internet

    def test_something():
        with FeedServer() as srv:
            srv.route("/feed.xml", body=b"<rss/>", headers={"Content-Type": "application/rss+xml"})
            srv.route("/old", redirect="/feed.xml")               # 302 to another path (or full URL)
            srv.route("/cached", body=b"x", etag='"v1"')          # answers 304 to If-None-Match: "v1"
            srv.route("/busy", status=429, headers={"Retry-After": "120"})
            srv.route("/slow", body=b"x", delay=0.2)              # latency before the response
            srv.route("/gz", body=b"x" * 1000, gzip=True)        # Content-Encoding: gzip
            srv.route("/bomb", chunks=gzip_bomb(2**30), headers={"Content-Encoding": "gzip"})
            srv.route("/forever", chunks=endless())               # chunked body that never ends
            srv.route("/trickle", chunks=trickle(b"<rss>...</rss>", interval=1.0))
            srv.route("/dyn", handler=lambda req: Reply(status=200, body=req.path.encode()))
            srv.url("/feed.xml")          # "http://127.0.0.1:<port>/feed.xml"
            srv.count("/feed.xml")        # requests seen for that path (query ignored)
            srv.requests                  # [Recorded(method, path, headers (lower-case), body, ...)]
            srv.last("/feed.xml").headers["user-agent"]
            srv.max_in_flight             # highest number of requests being handled at once

Unknown paths answer 404. Streamed bodies (``chunks``) use chunked transfer encoding; a
``chunks`` value is a zero-argument callable returning an iterable of bytes, so each request
gets a fresh stream. Stopping the server (leaving the ``with``) ends all streams promptly.
"""

from __future__ import annotations

import gzip as gzip_module
import http.server
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every proxy variable and set NO_PROXY=* for the duration of a test."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str  # with query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class Reply:
    """What a ``handler`` callable returns."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


ChunkSource = Callable[[], Iterable[bytes]]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0
    chunks: ChunkSource | None = None
    redirect: str | None = None
    redirect_status: int = 302
    handler: Callable[[Recorded], Reply] | None = None


class FeedServer:
    """Threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self.streams_finished = 0  # chunked bodies sent to the end (a client that hung up never is)
        self.answered: Counter[int] = Counter()  # responses sent, by status (200s and 304s, for the bench)
        self.stopping = threading.Event()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FeedServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration -----------------------------------------------------------------------
    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
        chunks: ChunkSource | Iterable[bytes] | None = None,
        redirect: str | None = None,
        redirect_status: int = 302,
        handler: Callable[[Recorded], Reply] | None = None,
    ) -> FeedServer:
        """Configure what ``path`` answers (replacing any earlier route). Returns self for chaining.

        ``etag``/``last_modified`` are sent and honoured (304 on a matching If-None-Match or an
        If-Modified-Since equal to it). ``redirect`` is a path or absolute URL. ``chunks`` streams a
        body (chunked); pass a callable for a fresh iterable per request (a bare iterable is wrapped,
        but a generator can only be consumed once). ``handler`` overrides everything but ``delay``.
        """
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode("utf-8")
        source: ChunkSource | None
        if chunks is None or callable(chunks):
            source = chunks
        else:
            items = chunks
            source = lambda: items  # noqa: E731
        with self._lock:
            self._routes[path] = Route(
                body=body,
                status=status,
                headers=hdrs,
                etag=etag,
                last_modified=last_modified,
                gzip=gzip,
                delay=delay,
                chunks=source,
                redirect=redirect,
                redirect_status=redirect_status,
                handler=handler,
            )
        return self

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    # -- inspection --------------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None) -> int:
        """Requests received in total, or for one path (query string ignored)."""
        return sum(1 for r in self.requests if path is None or r.route == path)

    def last(self, path: str | None = None) -> Recorded:
        matching = [r for r in self.requests if path is None or r.route == path]
        if not matching:
            raise AssertionError(f"no request for {path!r}")
        return matching[-1]

    # -- internals ---------------------------------------------------------------------------
    def _lookup(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path.split("?", 1)[0])

    def _enter(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default (5) makes concurrent connects wait for SYN retries
    owner: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-stream are expected in these tests


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        rec = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body_in,
            at=time.monotonic(),
        )
        owner._enter(rec)
        try:
            self._respond(owner, rec)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        finally:
            owner._leave()

    def _respond(self, owner: FeedServer, rec: Recorded) -> None:
        route = owner._lookup(rec.path)
        if route is None:
            self._send(404, {"Content-Type": "text/plain"}, b"not found")
            return
        if route.delay and owner.stopping.wait(route.delay):
            return
        if route.handler is not None:
            reply = route.handler(rec)
            self._send(reply.status, reply.headers, reply.body)
            return
        headers = dict(route.headers)
        if route.redirect is not None:
            headers["Location"] = route.redirect
            self._send(route.redirect_status, headers, b"")
            return
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        inm = rec.headers.get("if-none-match")
        ims = rec.headers.get("if-modified-since")
        if (route.etag and inm and route.etag in [t.strip() for t in inm.split(",")]) or (
            route.last_modified and not (route.etag and inm) and ims == route.last_modified
        ):
            self._send(304, headers, b"")
            return
        if route.chunks is not None:
            self._stream(route.status, headers, route.chunks(), owner)
            return
        body = route.body
        if route.gzip:
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(route.status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        owner = self.server.owner
        with owner._lock:
            owner.answered[status] += 1
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        no_body = status in (204, 304) or 100 <= status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not no_body and self.command != "HEAD":
            self.wfile.write(body)

    def _stream(
        self, status: int, headers: dict[str, str], chunks: Iterable[bytes], owner: FeedServer
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for chunk in chunks:
            if owner.stopping.is_set():
                self.close_connection = True
                return
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        with owner._lock:
            owner.streams_finished += 1


# -- body generators (for ``chunks=``) ---------------------------------------------------------


def endless(chunk: bytes = b"<item>spam</item>" * 4096) -> ChunkSource:
    """A body that never ends (until the client hangs up or the server stops)."""

    def gen() -> Iterator[bytes]:
        while True:
            yield chunk

    return gen


def trickle(body: bytes, interval: float = 1.0, step: int = 1) -> ChunkSource:
    """Send ``body`` ``step`` bytes at a time, sleeping ``interval`` seconds between pieces."""

    def gen() -> Iterator[bytes]:
        for i in range(0, len(body), step):
            yield body[i : i + step]
            time.sleep(interval)

    return gen


def gzip_bomb(inflated: int = 2**30, block: int = 2**20) -> ChunkSource:
    """A gzip stream of ``inflated`` zero bytes (1 GiB → about 1 MB compressed), produced lazily one
    ``block`` at a time, so neither side ever holds the inflated data. Send it with
    ``headers={"Content-Encoding": "gzip"}``."""

    def gen() -> Iterator[bytes]:
        z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(block)
        left = inflated
        while left > 0:
            n = min(block, left)
            out = z.compress(zeros[:n] if n < block else zeros)
            left -= n
            if out:
                yield out
        yield z.flush()

    return gen


def http_date(ts: float | None = None) -> str:
    """An RFC 7231 date (for Last-Modified or Retry-After)."""
    return formatdate(time.time() if ts is None else ts, usegmt=True)
