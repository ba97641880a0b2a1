"""Hostile sources through the real pipeline: one bad source never hurts the good one next to it.

Every feed here is served over real HTTP by tests/support/feedserver.py; folders are real folders. Each
case polls a config holding a hostile source *and* a good source, and checks that the poll returns
normally, the good source's stories are stored, and the hostile source's state says what happened.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from spyglass import dedupe
from spyglass.cli import main
from spyglass.config import load_settings
from spyglass.defaults import FAILING_AFTER
from spyglass.refresh import PollReport, SourceReport, poll
from spyglass.service import Services, build_services
from spyglass.store.schema import FolderFile, LshBand, Source, StoryRow
from support.feeds import rss
from support.feedserver import FeedServer, endless, gzip_bomb, trickle

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
GOOD_URLS = ["https://good.example/frt-vans", "https://good.example/anpr"]


GOOD_FEED = rss(
    [
        (
            "Police roll out live facial recognition vans",
            GOOD_URLS[0],
            "The police will park live facial recognition cameras on the high street.",
        ),
        (
            "Council approves 40 new ANPR cameras",
            GOOD_URLS[1],
            "Automatic number plate recognition cameras will watch every road into town.",
        ),
    ]
)


def write_config(tmp_path: Path, sources: list[dict[str, str]], *, fetch: str = "", extra: str = "") -> Path:
    lines = [extra, f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n']
    if fetch:
        lines.append(f"[fetch]\n{fetch}\n")
    for src in sources:
        lines.append("[[sources]]\n" + "".join(f'{k} = "{v}"\n' for k, v in src.items()))
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def services(cfg: Path) -> Services:
    return build_services(load_settings(cfg, env={}))


def source_row(svc: Services, name: str) -> Source:
    with svc.store.session() as s:
        row = s.scalar(select(Source).where(Source.name == name))
        assert row is not None
        return row


def stored_urls(svc: Services, name: str) -> set[str]:
    with svc.store.session() as s:
        sid = s.scalar(select(Source.id).where(Source.name == name))
        return set(s.scalars(select(StoryRow.original_url).where(StoryRow.source_id == sid)))


def report_for(report: PollReport, name: str) -> SourceReport:
    return next(r for r in report.sources if r.name == name)


def sources_output(cfg: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["--config", str(cfg), "sources"]) == 0
    return capsys.readouterr().out


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.route("/good.xml", body=GOOD_FEED, content_type="application/rss+xml")
        yield srv


# ----------------------------------------------------------------------------- feeds
def _hostile_routes(srv: FeedServer) -> None:
    srv.route(
        "/malformed.xml", body=(HOSTILE / "malformed.xml").read_bytes(), content_type="application/rss+xml"
    )
    srv.route(
        "/page.html", body=(HOSTILE / "page.html").read_bytes(), content_type="text/html; charset=utf-8"
    )
    srv.route(
        "/cp1252.xml",
        body=(HOSTILE / "cp1252_declared_utf8.xml").read_bytes(),
        content_type="application/rss+xml; charset=utf-8",
    )
    srv.route("/empty.xml", body=b"", content_type="application/rss+xml")
    srv.route(
        "/big.xml",
        body=rss([("x" * 100, f"https://big.example/{i}", "y" * 1000) for i in range(200)]),
        content_type="application/rss+xml",
    )
    srv.route("/endless.xml", chunks=endless(), content_type="application/rss+xml")
    srv.route(
        "/bomb.xml",
        chunks=gzip_bomb(2**30),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
    )
    srv.route(
        "/trickle.xml", chunks=trickle(GOOD_FEED, interval=0.2, step=16), content_type="application/rss+xml"
    )
    srv.route("/loop", redirect="/loop")
    srv.route("/gone.xml", status=410, body=b"gone")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    srv.route(
        "/laughs.xml",
        content_type="application/rss+xml",
        body=(
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{laughs}]><rss version="2.0"><channel>'
            "<title>T</title><item><title>Laughs &l9;</title><link>https://laughs.example/1</link>"
            "<description>&l9;</description></item></channel></rss>"
        ).encode(),
    )
    srv.route(
        "/xxe.xml",
        content_type="application/rss+xml",
        body=(
            b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss version="2.0">'
            b"<channel><title>T</title><item><title>Secrets &x;</title><link>https://xxe.example/1</link>"
            b"<description>Police drones &x;</description></item></channel></rss>"
        ),
    )
    srv.route(
        "/nested.xml",
        content_type="application/rss+xml",
        body=b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>Deep</title>'
        b"<link>https://deep.example/1</link><description>"
        + b"<div>" * 100_000
        + b"</description></item></channel></rss>",
    )


# (path, expected status of the hostile source, a fragment of its recorded error or "" for none)
CASES = {
    "malformed": ("/malformed.xml", "ok", ""),
    "html": ("/page.html", "error", "looks like an HTML page"),
    "cp1252": ("/cp1252.xml", "ok", ""),
    "empty": ("/empty.xml", "error", "empty"),
    "over-cap": ("/big.xml", "error", "cap"),
    "endless": ("/endless.xml", "error", "cap"),
    "gzip-bomb": ("/bomb.xml", "error", "cap"),
    "trickle": ("/trickle.xml", "error", "timed out"),
    "redirect-loop": ("/loop", "error", "redirect"),
    "404": ("/missing.xml", "error", "404"),
    "billion-laughs": ("/laughs.xml", "any", ""),
    "external-entity": ("/xxe.xml", "any", ""),
    "deeply-nested": ("/nested.xml", "any", ""),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_feed_next_to_a_good_one(
    case: str, server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile_routes(server)
    path, status, fragment = CASES[case]
    cfg = write_config(
        tmp_path,
        [
            {"name": "Hostile", "url": server.url(path), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
        fetch='deadline = "2s"\ntimeout = "2s"\nmax_bytes = "64KiB"',
    )
    svc = services(cfg)
    started = time.monotonic()
    report = poll(svc, "test")
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"poll took {elapsed:.1f}s"
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    assert report_for(report, "Good").status == "ok"
    rep = report_for(report, "Hostile")
    row = source_row(svc, "Hostile")
    assert row.lease_owner is None and row.lease_until is None  # the lease is always given back
    if status == "any":  # hostile XML: stored harmlessly or refused, never expanded
        assert rep.status in ("ok", "error"), rep
        with svc.store.session() as s:
            text_ = " ".join(f"{t} {m}" for t, m in s.execute(select(StoryRow.title, StoryRow.summary)))
        assert "root:" not in text_ and "lollollol" not in text_
        assert len(text_) < 20_000
        return
    assert rep.status == status, rep
    if status == "error":
        assert row.error_count == 1 and row.last_error
        assert fragment.lower() in row.last_error.lower(), row.last_error
        assert row.next_attempt_at is not None and row.last_attempt_at is not None
        assert row.next_attempt_at > row.last_attempt_at
        assert "[error]" in sources_output(cfg, capsys).split("Hostile", 1)[1].split("\n")[0]
    else:
        assert row.error_count == 0 and stored_urls(svc, "Hostile")
    if case == "cp1252":  # the cp1252 bytes are decoded, not dropped or mangled into U+FFFD
        with svc.store.session() as s:
            title = s.scalar(
                select(StoryRow.title).where(StoryRow.original_url == "https://cp.example.com/1")
            )
        assert title and "\ufffd" not in title and "€500" in title and "café" in title
    if case in ("endless", "gzip-bomb", "trickle"):
        assert elapsed < 10


def test_410_disables_the_source(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile_routes(server)
    cfg = write_config(
        tmp_path,
        [
            {"name": "Gone", "url": server.url("/gone.xml"), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
    )
    svc = services(cfg)
    report = poll(svc, "test")
    assert report_for(report, "Gone").status == "disabled"
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    assert source_row(svc, "Gone").disabled_reason
    out = sources_output(cfg, capsys)
    assert "Gone  [DISABLED]" in out and "disabled:" in out
    # A disabled source is not fetched again.
    before = server.count("/gone.xml")
    report = poll(svc, "test")
    assert server.count("/gone.xml") == before
    assert [r.name for r in report.sources] == ["Good"]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int, server: FeedServer, tmp_path: Path) -> None:
    server.route("/busy.xml", status=status, headers={"Retry-After": "3600"})
    cfg = write_config(
        tmp_path,
        [
            {"name": "Busy", "url": server.url("/busy.xml"), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
    )
    svc = services(cfg)
    poll(svc, "test")
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    row = source_row(svc, "Busy")
    assert row.error_count == 1
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    delay = (row.next_attempt_at - row.last_attempt_at).total_seconds()
    assert 3590 <= delay <= 3610, delay
    # A due-only poll does not touch it before then.
    before = server.count("/busy.xml")
    poll(svc, "test", only_due=True)
    assert server.count("/busy.xml") == before


def test_retry_after_as_a_date_and_capped_by_max_backoff(server: FeedServer, tmp_path: Path) -> None:
    from support.feedserver import http_date

    server.route("/date.xml", status=503, headers={"Retry-After": http_date(time.time() + 7200)})
    server.route("/huge.xml", status=429, headers={"Retry-After": "999999999"})
    cfg = write_config(
        tmp_path,
        [
            {"name": "Date", "url": server.url("/date.xml"), "interval": "30s"},
            {"name": "Huge", "url": server.url("/huge.xml"), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
        extra='max_backoff = "3h"\n',
    )
    svc = services(cfg)
    poll(svc, "test")
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    for name, expected in (("Date", 7200), ("Huge", 3 * 3600)):
        row = source_row(svc, name)
        assert row.next_attempt_at is not None and row.last_attempt_at is not None
        delay = (row.next_attempt_at - row.last_attempt_at).total_seconds()
        assert expected - 15 <= delay <= expected + 5, (name, delay)


def test_500s_back_off_exponentially_capped_and_show_failing(
    server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/broken.xml", status=500, body=b"oops")
    cfg = write_config(
        tmp_path,
        [
            {"name": "Broken", "url": server.url("/broken.xml"), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
        extra='max_backoff = "10m"\n',
    )
    svc = services(cfg)
    delays = []
    for n in range(1, 8):
        poll(svc, "test")  # not only_due: force an attempt each time
        row = source_row(svc, "Broken")
        assert row.error_count == n
        assert row.next_attempt_at is not None and row.last_attempt_at is not None
        delays.append(round((row.next_attempt_at - row.last_attempt_at).total_seconds()))
        state = sources_output(cfg, capsys).split("Broken  [", 1)[1].split("]", 1)[0]
        assert state == ("FAILING" if n >= FAILING_AFTER else "error"), (n, state)
    assert delays == [min(30 * 2**n, 600) for n in range(1, 8)], delays
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    # Success resets the count.
    server.route("/broken.xml", body=GOOD_FEED.replace(b"good.example", b"fixed.example"))
    poll(svc, "test")
    assert source_row(svc, "Broken").error_count == 0
    assert "Broken  [ok]" in sources_output(cfg, capsys)


# ----------------------------------------------------------------------------- folders
def _hostile_folder(folder: Path) -> None:
    folder.mkdir()
    for name in ("good.md", "bad_yaml.md", "no_title.md", "no_url.md", "yaml11.md"):
        shutil.copy(HOSTILE / name, folder / name)
    (folder / "binary.md").write_bytes(b"---\ntitle: x\n---\n\x00\x01\x02\xff" * 10)
    (folder / "huge.md").write_bytes(
        b"---\ntitle: Huge\noriginalUrl: https://folder.example/huge\n---\n" + b"word " * (2**20 // 5 + 10)
    )


BAD_FILES = {
    "bad_yaml.md": "YAML",
    "no_title.md": "title",
    "no_url.md": "originalUrl",
    "binary.md": "binary",
    "huge.md": "limit",
}


def test_hostile_folder(server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "stories"
    _hostile_folder(folder)
    cfg = write_config(
        tmp_path,
        [
            {"name": "Folder", "path": str(folder), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
    )
    svc = services(cfg)
    with caplog.at_level(logging.WARNING):
        report = poll(svc, "test")
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    rep = report_for(report, "Folder")
    assert rep.status == "ok" and rep.stored == 2 and "5 file(s) skipped" in rep.error
    assert stored_urls(svc, "Folder") == {"https://folder.example/good", "https://folder.example/no"}
    with svc.store.session() as s:
        no = s.scalar(select(StoryRow).where(StoryRow.original_url == "https://folder.example/no"))
        assert no is not None
        assert no.title == "NO"  # YAML 1.1 would have made it False
        assert no.published_at.date().isoformat() == "2026-11-20"  # a bare date, read as a date
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for name, problem in BAD_FILES.items():
        mine = [ln for ln in lines if name in ln]
        assert len(mine) == 1, (name, lines)
        assert problem.lower() in mine[0].lower(), mine[0]
        assert "\n" not in mine[0]
    assert not [r for r in caplog.records if r.exc_info]  # no tracebacks
    with svc.store.session() as s:
        errors = {f.path: f.error for f in s.scalars(select(FolderFile))}
    assert set(k for k, v in errors.items() if v) == set(BAD_FILES)

    # Second poll: unchanged bad files are neither re-read nor re-logged.
    caplog.clear()
    reads: list[str] = []
    real_read = Path.read_bytes

    def counting_read(self: Path) -> bytes:
        reads.append(self.name)
        return real_read(self)

    with caplog.at_level(logging.WARNING), pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_bytes", counting_read)
        report = poll(svc, "test")
    assert not [n for n in reads if n.endswith(".md")], reads
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "Folder" in r.getMessage()]
    assert report_for(report, "Folder").stored == 0

    # Touched but unchanged: still not parsed or logged again; fixed: ingested.
    st = (folder / "bad_yaml.md").stat()
    os.utime(folder / "bad_yaml.md", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    (folder / "no_title.md").write_text(
        "---\ntitle: Drones over the park\noriginalUrl: https://folder.example/fixed\n---\nPolice drones.\n"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        report = poll(svc, "test")
    assert report_for(report, "Folder").stored == 1
    assert not [r for r in caplog.records if "bad_yaml.md" in r.getMessage()]


# ----------------------------------------------------------------------------- linear time
PATHOLOGICAL = {
    "a": "a" * 10**6,
    "lt": "<" * 10**6,
    "amp": "&amp;" * 200_000,
    "tags": "<b>" * 300_000,
    "spaces": "face " + " " * 10**6 + " recognition",
    "mixed": ("facial recognition " + "x" * 50 + " ") * 14_000,
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", list(PATHOLOGICAL))
def test_pathological_text_is_handled_in_linear_time(kind: str, server: FeedServer, tmp_path: Path) -> None:
    text = PATHOLOGICAL[kind]
    server.route(
        "/patho.xml",
        body=rss([(text, "https://patho.example/1", text)], cdata=True),
        content_type="application/rss+xml",
    )
    cfg = write_config(
        tmp_path,
        [
            {"name": "Patho", "url": server.url("/patho.xml"), "interval": "30s"},
            {"name": "Good", "url": server.url("/good.xml"), "interval": "30s"},
        ],
    )
    svc = services(cfg)
    report = poll(svc, "test")
    assert stored_urls(svc, "Good") == set(GOOD_URLS)
    rep = report_for(report, "Patho")
    assert rep.status in ("ok", "error"), rep
    if rep.status == "ok" and rep.stored:
        with svc.store.session() as s:
            row = s.scalar(select(StoryRow).where(StoryRow.original_url == "https://patho.example/1"))
            assert row is not None and len(row.title) <= 1000 and len(row.summary) <= 10_000
            # Indexed for near-duplicates when it has enough distinct words to compare; these texts
            # (one word repeated, nothing but markup) are matched by URL and GUID alone.
            banded = s.scalar(select(LshBand.story_id).where(LshBand.story_id == row.id).limit(1)) is not None
            assert banded is dedupe.comparable(dedupe.signature(row.title, row.summary))


def test_hostile_backoff_uses_retry_after_not_less_than_interval(server: FeedServer, tmp_path: Path) -> None:
    """A tiny Retry-After never makes a source be polled more often than its interval."""
    server.route("/hurry.xml", status=429, headers={"Retry-After": "1"})
    cfg = write_config(tmp_path, [{"name": "Hurry", "url": server.url("/hurry.xml"), "interval": "30s"}])
    svc = services(cfg)
    poll(svc, "test")
    row = source_row(svc, "Hurry")
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    assert row.next_attempt_at - row.last_attempt_at >= timedelta(seconds=30)


def test_the_interval_counts_from_the_start_of_a_poll_so_a_slow_feed_keeps_its_schedule(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler fires at start + k·interval; the next attempt must be due at that fire, however
    long the fetch took (it used to be finish + interval, so every other fire found it 'not due')."""
    from datetime import UTC, datetime

    from spyglass.sources import state

    server.route("/slow.xml", rss([("Slow feed story", "https://slow.example/1", "text")]), delay=1.5)
    cfg = write_config(tmp_path, [{"name": "Slow", "url": server.url("/slow.xml"), "interval": "30s"}])
    svc = services(cfg)
    started = datetime.now(UTC)
    poll(svc, "test", only_due=True)
    row = source_row(svc, "Slow")
    assert row.last_success_at is not None and row.last_success_at - started >= timedelta(seconds=1.4)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - started <= timedelta(seconds=30.5)
    # The next scheduled fire, a few milliseconds before the exact interval, finds it due.
    monkeypatch.setattr(state, "now_utc", lambda: started + timedelta(seconds=29.99))
    assert state.claim(svc, ["Slow"], "test", only_due=True) == ["Slow"]


def test_a_folder_larger_than_one_polls_limit_is_read_over_several_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAX_FILES bounds the files read per poll; it must not hide the files sorted after the limit."""
    from spyglass import defaults

    monkeypatch.setattr(defaults, "MAX_FILES", 4)
    monkeypatch.setattr("spyglass.sources.folder.MAX_FILES", 4)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10):
        (folder / f"{i:02d}.md").write_text(
            f"---\ntitle: Story number {i} about zebra{i} quokka{i}\noriginalUrl: https://folder.example/{i}\n"
            f"publishedDateTime: 2026-11-30T10:00:00Z\n---\nBody {i} walrus{i} narwhal{i}.\n"
        )
    cfg = write_config(tmp_path, [{"name": "Many", "path": str(folder), "interval": "30s"}])
    svc = services(cfg)
    stored = [poll(svc, "test").stored for _ in range(4)]
    assert stored == [4, 4, 2, 0]
    assert len(stored_urls(svc, "Many")) == 10
