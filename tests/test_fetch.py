"""Fetcher against a real HTTP server on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from spyglass.sources.fetch import (
    DEFAULT_USER_AGENT,
    Fetcher,
    FetchRequest,
    FetchResult,
    parse_retry_after,
)
from spyglass.urls import redact_url
from support.feedserver import FeedServer, endless, gzip_bomb, http_date, trickle

T = TypeVar("T")
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def fetch(url: str, **kwargs: Any) -> FetchResult:
    """One fetch with a fresh Fetcher; Fetcher options and fetch options are split by name."""
    fetch_opts = {k: kwargs.pop(k) for k in ("etag", "last_modified", "trusted") if k in kwargs}

    async def go() -> FetchResult:
        async with Fetcher(**kwargs) as fetcher:
            return await fetcher.fetch(url, **fetch_opts)

    return run(go())


def test_ok_body_headers_and_user_agent(srv: FeedServer) -> None:
    srv.route("/feed.xml", FEED, content_type="application/rss+xml; charset=utf-8")
    r = fetch(srv.url("/feed.xml"))
    assert r.kind == "ok" and r.http_status == 200 and r.error == ""
    assert r.body == FEED
    assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert r.url == srv.url("/feed.xml")
    assert r.elapsed > 0
    sent = srv.last("/feed.xml").headers
    assert sent["user-agent"] == DEFAULT_USER_AGENT
    assert (
        DEFAULT_USER_AGENT.startswith("Spyglass/")
        and "+https://github.com/spyglass-news/spyglass" in sent["user-agent"]
    )
    assert "gzip" in sent["accept-encoding"]


def test_custom_user_agent(srv: FeedServer) -> None:
    srv.route("/f", FEED)
    fetch(srv.url("/f"), user_agent="Spyglass-test/1")
    assert srv.last("/f").headers["user-agent"] == "Spyglass-test/1"


def test_conditional_get_with_etag(srv: FeedServer) -> None:
    srv.route("/f", FEED, etag='"abc"')

    async def go() -> tuple[FetchResult, FetchResult]:
        async with Fetcher() as f:
            first = await f.fetch(srv.url("/f"))
            second = await f.fetch(srv.url("/f"), etag=first.etag, last_modified=first.last_modified)
            return first, second

    first, second = run(go())
    assert first.kind == "ok" and first.etag == '"abc"'
    assert second.kind == "not_modified" and second.http_status == 304 and second.body == b""
    assert second.etag == '"abc"'
    assert srv.count("/f") == 2
    assert "if-none-match" not in srv.requests[0].headers
    assert srv.requests[1].headers["if-none-match"] == '"abc"'


def test_conditional_get_with_last_modified(srv: FeedServer) -> None:
    stamp = http_date(1_700_000_000)
    srv.route("/f", FEED, last_modified=stamp)
    first = fetch(srv.url("/f"))
    assert first.last_modified == stamp and first.etag is None
    second = fetch(srv.url("/f"), last_modified=first.last_modified)
    assert second.kind == "not_modified"
    assert second.last_modified == stamp
    assert srv.last("/f").headers["if-modified-since"] == stamp
    assert srv.count("/f") == 2


def test_redirects_followed_and_final_url_returned(srv: FeedServer) -> None:
    srv.route("/feed.xml", FEED)
    srv.route("/moved", redirect="/feed.xml", redirect_status=301)
    srv.route("/start", redirect=srv.url("/moved"), redirect_status=302)
    r = fetch(srv.url("/start"))
    assert r.kind == "ok" and r.body == FEED
    assert r.url == srv.url("/feed.xml")
    assert r.redirects == 2
    assert [q.route for q in srv.requests] == ["/start", "/moved", "/feed.xml"]


def test_conditional_headers_survive_redirect(srv: FeedServer) -> None:
    srv.route("/new", FEED, etag='"v2"')
    srv.route("/old", redirect="/new", redirect_status=308)
    r = fetch(srv.url("/old"), etag='"v2"')
    assert r.kind == "not_modified" and r.url == srv.url("/new")


def test_unknown_path_is_gone(srv: FeedServer) -> None:
    r = fetch(srv.url("/never-configured"))
    assert r.kind == "gone" and r.http_status == 404


def test_parse_retry_after_edge_cases() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("99999999") == 7 * 86400.0  # clamped to a week


def test_body_cap_with_content_length(srv: FeedServer) -> None:
    srv.route("/big", b"x" * (5 * 2**20 + 1))
    r = fetch(srv.url("/big"), max_bytes=2**20)
    assert r.kind == "error" and r.error == "body larger than 1 MiB cap"
    assert r.body == b""


def test_body_cap_on_chunked_body(srv: FeedServer) -> None:
    big = b"y" * (6 * 2**20)
    srv.route("/big", chunks=lambda: (big[i : i + 65536] for i in range(0, len(big), 65536)))
    r = fetch(srv.url("/big"), max_bytes=5 * 2**20)
    assert r.kind == "error" and r.error == "body larger than 5 MiB cap"


def test_body_exactly_at_cap_is_fine(srv: FeedServer) -> None:
    srv.route("/f", b"z" * 4096, gzip=True)
    r = fetch(srv.url("/f"), max_bytes=4096)
    assert r.kind == "ok" and r.body == b"z" * 4096


def test_endless_body_capped(srv: FeedServer) -> None:
    srv.route("/forever", chunks=endless())
    r = fetch(srv.url("/forever"), max_bytes=2 * 2**20)
    assert r.kind == "error" and r.error == "body larger than 2 MiB cap"
    assert srv.streams_finished == 0 and srv.count("/forever") == 1  # hung up on it, once


def test_gzip_body_decoded(srv: FeedServer) -> None:
    srv.route("/gz", FEED * 100, gzip=True)
    r = fetch(srv.url("/gz"))
    assert r.kind == "ok" and r.body == FEED * 100
    assert r.headers["content-encoding"] == "gzip"


def test_gzip_bomb_capped_without_exhausting_memory(srv: FeedServer) -> None:
    # 1 GiB of zeros, about 1 MB on the wire, produced lazily by the server.
    srv.route("/bomb", chunks=gzip_bomb(2**30), headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        r = fetch(srv.url("/bomb"), max_bytes=4 * 2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.kind == "error" and r.error == "body larger than 4 MiB cap"
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_trickle_stopped_by_deadline(srv: FeedServer) -> None:
    srv.route("/slow", chunks=trickle(FEED, interval=1.0))
    r = fetch(srv.url("/slow"), deadline=1.5, timeout=10.0)
    # Only the total deadline says this (the read timeout, 10 s, never fired), and the body was cut
    # off: the server never finished sending it.
    assert r.kind == "error" and r.error == "timed out after 1.5 s"
    assert srv.streams_finished == 0 and srv.count("/slow") == 1


def test_read_timeout(srv: FeedServer) -> None:
    srv.route("/stall", FEED, delay=2.0)
    r = fetch(srv.url("/stall"), timeout=0.3, deadline=10)
    assert r.kind == "error" and r.error == "no data for 0.3 s (read timeout)"


def test_connection_refused_is_an_error_not_an_exception() -> None:
    with FeedServer() as dead:
        url = dead.url("/f")
    r = fetch(url)
    assert r.kind == "error" and r.error.startswith("cannot connect")


def test_bad_scheme_is_an_error() -> None:
    r = fetch("ftp://127.0.0.1/feed")
    assert r.kind == "error" and r.error == "Request URL has an unsupported protocol 'ftp://'."


def test_credentials_never_in_messages() -> None:
    with FeedServer() as dead:
        url = dead.url("/f").replace("http://", "http://alice:hunter2@")
    r = fetch(url)
    assert r.kind == "error"
    assert "hunter2" not in r.error and "alice" not in r.error
    assert "hunter2" not in r.safe_url
    assert redact_url("https://u:p@example.com:8443/x?y=1") == "https://example.com:8443/x?y=1"


def test_credentials_sent_as_basic_auth_and_never_logged(
    srv: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv.route("/private", FEED)
    srv.route("/moved", redirect="/private")
    url = srv.url("/moved").replace("http://", "http://alice:hunter2@")
    with caplog.at_level(logging.DEBUG):
        r = fetch(url)
    assert r.kind == "ok"
    assert srv.last("/private").headers["authorization"] == "Basic YWxpY2U6aHVudGVyMg=="
    assert "hunter2" not in caplog.text
    assert r.url == srv.url("/private").replace("http://", "http://alice:hunter2@")  # same origin


def test_credentials_not_forwarded_to_another_origin(srv: FeedServer) -> None:
    srv.route("/private", redirect=f"http://localhost:{srv.port}/public")
    srv.route("/public", FEED)
    r = fetch(srv.url("/private").replace("http://", "http://alice:hunter2@"))
    assert r.kind == "ok" and r.url == f"http://localhost:{srv.port}/public"
    assert "authorization" in srv.last("/private").headers
    assert "authorization" not in srv.last("/public").headers


def test_url_unchanged_without_redirect(srv: FeedServer) -> None:
    srv.route("/", FEED)
    bare = f"http://127.0.0.1:{srv.port}"  # httpx would normalise this to ".../"
    assert fetch(bare).url == bare


@pytest.mark.parametrize("url", ["", "not a url", "http://", "http://[::1", "ftp://127.0.0.1/x"])
def test_garbage_urls_are_errors(url: str) -> None:
    for trusted in (True, False):
        r = fetch(url, trusted=trusted)
        assert r.kind == "error" and r.error and "\n" not in r.error


def test_untrusted_odd_host_name_refused_without_lookup() -> None:
    r = fetch("https://exa mple.com/", trusted=False)
    assert r.kind == "error" and r.error.startswith("refused: invalid host name")


def test_fetch_many_is_concurrent_and_ordered(srv: FeedServer) -> None:
    for i in range(20):
        srv.route(f"/f{i}", f"feed {i}".encode(), delay=0.2)

    async def go() -> list[FetchResult]:
        async with Fetcher(concurrency=16, per_host=8) as f:
            return await f.fetch_many([FetchRequest(srv.url(f"/f{i}")) for i in range(20)])

    started = time.monotonic()
    results = run(go())
    took = time.monotonic() - started
    assert [r.body for r in results] == [f"feed {i}".encode() for i in range(20)]
    assert took < 2.0, f"took {took:.2f} s; serial would be 4 s"
    assert srv.max_in_flight <= 8


def test_fetch_many_respects_per_host_limit(srv: FeedServer) -> None:
    for i in range(12):
        srv.route(f"/f{i}", FEED, delay=0.1)

    async def go() -> list[FetchResult]:
        async with Fetcher(per_host=3) as f:
            return await f.fetch_many([FetchRequest(srv.url(f"/f{i}")) for i in range(12)])

    results = run(go())
    assert all(r.kind == "ok" for r in results)
    assert srv.max_in_flight <= 3


def test_fetch_many_mixed_outcomes(srv: FeedServer) -> None:
    srv.route("/ok", FEED, etag='"e"')
    srv.route("/gone", status=410)

    async def go() -> list[FetchResult]:
        async with Fetcher() as f:
            return await f.fetch_many(
                [
                    FetchRequest(srv.url("/ok")),
                    FetchRequest(srv.url("/gone")),
                    FetchRequest(srv.url("/ok"), etag='"e"'),
                    FetchRequest("ftp://nowhere/"),
                ]
            )

    assert [r.kind for r in run(go())] == ["ok", "gone", "not_modified", "error"]
