"""The fetcher's HTTP logic — redirects, status codes, Retry-After, content encodings — against
`httpx.MockTransport` (a plain function answering each request): nothing here depends on sockets
or timing, so nothing here needs a server. Streaming, caps, deadlines and the address guard are
tested over real sockets in test_fetch.py and test_netguard.py."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from spyglass.sources.fetch import Fetcher, FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
Handler = Callable[[httpx.Request], httpx.Response]


def fetch(handler: Handler, url: str = "http://feeds.test/f", **kwargs: Any) -> tuple[FetchResult, list[str]]:
    """One fetch through a MockTransport; returns the result and the paths requested, in order."""
    seen: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return handler(request)

    async def go() -> FetchResult:
        async with Fetcher(transport=httpx.MockTransport(recording), **kwargs) as fetcher:
            return await fetcher.fetch(url)

    return asyncio.run(go()), seen


class _Raw(httpx.AsyncByteStream):
    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content


def body(content: bytes, status: int = 200, **headers: str) -> httpx.Response:
    """A response whose body arrives as a stream, raw, as from a real server (``content=`` would
    hand httpx bytes it has already read, and decode)."""
    return httpx.Response(
        status, headers={k.replace("_", "-"): v for k, v in headers.items()}, stream=httpx.ByteStream(content)
    )


def redirect(to: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"Location": to})


def test_redirect_loop_is_an_error() -> None:
    r, seen = fetch(lambda req: redirect("/b" if req.url.path == "/a" else "/a"), "http://feeds.test/a")
    assert r.kind == "error" and r.error == "redirect loop"
    assert seen == ["/a", "/b"]


def test_too_many_redirects() -> None:
    r, seen = fetch(
        lambda req: redirect(f"/r{int(req.url.path[2:]) + 1}"), "http://feeds.test/r0", max_redirects=3
    )
    assert r.kind == "error" and r.error == "too many redirects (more than 3)"
    assert seen == ["/r0", "/r1", "/r2", "/r3"]


def test_redirect_without_location() -> None:
    r, _ = fetch(lambda req: httpx.Response(302))
    assert r.kind == "error" and "without a Location" in r.error


def test_redirect_to_a_relative_location_is_resolved() -> None:
    def answer(req: httpx.Request) -> httpx.Response:
        return body(FEED) if req.url.path == "/new/feed.xml" else redirect("../new/feed.xml", 301)

    r, seen = fetch(answer, "http://feeds.test/old/feed.xml")
    assert (
        r.kind == "ok" and r.body == FEED and r.url == "http://feeds.test/new/feed.xml" and r.redirects == 1
    )
    assert seen == ["/old/feed.xml", "/new/feed.xml"]


@pytest.mark.parametrize("status", [404, 410])
def test_not_found_and_gone(status: int) -> None:
    r, _ = fetch(lambda req: body(b"nope", status))
    assert r.kind == "gone" and r.http_status == status
    assert r.error.startswith(f"HTTP {status}")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(status: int) -> None:
    r, _ = fetch(lambda req: httpx.Response(status, headers={"Retry-After": "120"}))
    assert r.kind == "error" and r.http_status == status
    assert r.retry_after == 120.0
    assert r.error.startswith(f"HTTP {status}")


def test_retry_after_http_date() -> None:
    later = formatdate(time.time() + 600, usegmt=True)
    r, _ = fetch(lambda req: httpx.Response(503, headers={"Retry-After": later}))
    assert r.retry_after is not None and 590 <= r.retry_after <= 601


def test_server_error() -> None:
    r, _ = fetch(lambda req: body(b"boom", 500))
    assert r.kind == "error" and r.http_status == 500 and r.error == "HTTP 500"
    assert r.retry_after is None and r.body == b""


def test_unsupported_content_encoding() -> None:
    r, _ = fetch(lambda req: body(b"\x00\x01", Content_Encoding="br"))
    assert r.kind == "error" and r.error == "unsupported content-encoding: br"


def test_corrupt_gzip_is_an_error() -> None:
    r, _ = fetch(lambda req: body(b"this is not gzip at all", Content_Encoding="gzip"))
    assert r.kind == "error" and r.error.startswith("invalid gzip body")


def test_gzip_members_are_all_decoded() -> None:
    members = gzip.compress(FEED[:20]) + gzip.compress(FEED[20:])  # two members, as some servers send
    r, _ = fetch(lambda req: body(members, Content_Encoding="gzip"))
    assert r.kind == "ok" and r.body == FEED


def test_raw_deflate_accepted() -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = z.compress(FEED) + z.flush()
    r, _ = fetch(lambda req: body(raw, Content_Encoding="deflate"))
    assert r.kind == "ok" and r.body == FEED
