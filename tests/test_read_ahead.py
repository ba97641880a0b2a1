"""Reading feeds ahead in a worker process (`poll --once`): the same stories, clusters and alerts
as reading them in turn, and a feed the worker cannot read, or a worker that dies, costs nothing."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from spyglass.config import load_settings
from spyglass.refresh import _store_together, poll
from spyglass.service import Services, build_services
from spyglass.sources import ahead
from spyglass.sources.ahead import ReadAhead
from spyglass.sources.feed import FeedSource, fetch_feeds
from spyglass.sources.state import all_sources, sync_sources
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer

N = 12  # above ahead.MIN_FEEDS, so that poll uses the worker


def _serve(feeds: FeedServer) -> None:
    for i in range(N):
        items = [distinct_story(i * 10 + k, tag=f"f{i}") for k in range(3)]
        if i % 3 == 0:  # the same report from another outlet: joins the first feed's cluster
            title, _, text = distinct_story(0, tag="f0")
            items.append((title, f"https://other{i}.example/copy", text))
        feeds.route(f"/f{i}.xml", rss(items))
    feeds.route("/broken.xml", b"<html><body><p>Page moved</p></body></html>", content_type="text/html")
    feeds.route("/down.xml", b"oops", status=500)


def _services(tmp: Path, feeds: FeedServer, name: str) -> Services:
    cfg = tmp / f"{name}.toml"
    paths = [f"/f{i}.xml" for i in range(N)] + ["/broken.xml", "/down.xml"]
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp / name}.db"\n'
        + "".join(f'[[sources]]\nname = "S{k}"\nurl = "{feeds.url(p)}"\n' for k, p in enumerate(paths))
    )
    return build_services(load_settings(cfg, env={}))


def _contents(db: Path) -> tuple[list[tuple[object, ...]], ...]:
    with sqlite3.connect(db) as c:
        stories = c.execute(
            "SELECT s.url, s.title, s.summary, s.cluster_id, s.signature, s.matches FROM stories s ORDER BY s.url"
        ).fetchall()
        clusters = c.execute("SELECT id, size FROM clusters ORDER BY id").fetchall()
        deliveries = c.execute("SELECT story_id, channel_id, kind FROM deliveries ORDER BY id").fetchall()
        sources = c.execute("SELECT name, error_count, last_error FROM sources ORDER BY name").fetchall()
    return stories, clusters, deliveries, sources


def test_reading_ahead_stores_exactly_what_reading_in_turn_stores(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        _serve(feeds)
        plain = poll(_services(tmp_path, feeds, "plain"), "w1")
        read_ahead = poll(_services(tmp_path, feeds, "ahead"), "w1", read_ahead=True)
    copies = len(range(0, N, 3))
    assert plain.stored == read_ahead.stored == N * 3 + copies
    assert [(r.name, r.status, r.error) for r in plain.sources] == [
        (r.name, r.status, r.error) for r in read_ahead.sources
    ]
    errors = {r.name: r.error for r in read_ahead.sources if r.status == "error"}
    assert set(errors) == {f"S{N}", f"S{N + 1}"}, errors  # the broken feed and the 500: named, not lost
    assert "500" in errors[f"S{N + 1}"]
    want, got = _contents(tmp_path / "plain.db"), _contents(tmp_path / "ahead.db")
    assert got == want
    stories, clusters, deliveries, _ = got
    assert (
        max(size for _, size in clusters if isinstance(size, int)) == 1 + copies
    )  # the copies did join the original's cluster
    assert deliveries  # console delivery is planned


def _fetched(tmp: Path) -> tuple[Services, list[FeedSource]]:
    """The test feeds, fetched (the server can stop: the worker reads the fetched bytes)."""
    with FeedServer() as feeds:
        _serve(feeds)
        svc = _services(tmp, feeds, "w")
        fetched = fetch_feeds(svc, all_sources(svc)[:N])
    assert fetched is not None
    return svc, fetched


def test_the_worker_reads_in_another_process_and_matches_like_this_one(tmp_path: Path) -> None:
    svc, fetched = _fetched(tmp_path)
    matcher = svc.plan_and_matcher()[1]
    with ReadAhead(fetched, matcher) as ra:
        prepared = [ra.take(f) for f in fetched]
    for feed, got in zip(fetched, prepared, strict=True):
        assert got is not None and got.pid != os.getpid()
        here = feed.read(svc.store, 0)
        assert got.reading.stories == here.stories
        assert list(got.matches) == [matcher.match(st.title, st.summary) for st in here.stories]
        assert all(m for m in got.matches)  # every test story is about face recognition


def test_feeds_stored_together_keep_the_others_when_one_is_refused(tmp_path: Path) -> None:
    """Ten feeds read ahead go into one transaction. When the database refuses one feed's story
    (a trigger standing in for a constraint or a full disk), the rest are still stored and only
    that feed records an error, as when each feed had its own transaction."""
    svc, fetched = _fetched(tmp_path)
    sync_sources(svc)
    db = tmp_path / "w.db"
    with ReadAhead(fetched, svc.plan_and_matcher()[1]) as ra:
        ready = [(f, p) for f in fetched[:10] if (p := ra.take(f)) is not None]
    assert len(ready) == 10
    refused = ready[4][1].reading.stories[0].url
    with sqlite3.connect(db) as c:
        c.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON stories WHEN new.url = ? "  # noqa: S608 - test data
            "BEGIN SELECT RAISE(ABORT, 'refused by test'); END".replace("?", f"'{refused}'")
        )
    reports = _store_together(svc, ready, "w1")
    assert [r.name for r in reports] == [f.cfg.name for f, _ in ready]  # in order, one each
    bad = ready[4][0].cfg.name
    assert {r.name: r.status for r in reports if r.status != "ok"} == {bad: "error"}
    with sqlite3.connect(db) as c:
        urls = {u for (u,) in c.execute("SELECT url FROM stories")}
        state = dict(
            c.execute("SELECT name, last_error FROM sources WHERE name IN (?, ?)", (bad, "S0")).fetchall()
        )
        leased = c.execute("SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL").fetchone()[0]
    for feed, prep in ready:
        wanted = {st.url for st in prep.reading.stories}
        assert (wanted <= urls) == (feed.cfg.name != bad), feed.cfg.name
    assert refused not in urls
    assert "refused by test" in (state[bad] or "") and state["S0"] is None
    assert leased == 0  # every lease given back, the refused feed's too


def test_a_worker_that_dies_leaves_its_feeds_to_this_process(tmp_path: Path) -> None:
    svc, fetched = _fetched(tmp_path)
    with ReadAhead(fetched, svc.plan_and_matcher()[1]) as ra:
        first = ra.take(fetched[0])
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        rest = [ra.take(f) for f in fetched[1:]]
    assert rest[-1] is None  # no exception, no hang: the caller reads these itself
    assert ahead.MIN_FEEDS <= N


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after "pid (comm) state"
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_worker_does_not_outlive_a_killed_poll(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        for i in range(N):  # enough stories that the poll is still storing when it is killed
            feeds.route(f"/f{i}.xml", rss([distinct_story(i * 1000 + k, tag=f"k{i}") for k in range(300)]))
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'max_age = "0"\n[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n'
            + "".join(f'[[sources]]\nname = "S{i}"\nurl = "{feeds.url(f"/f{i}.xml")}"\n' for i in range(N))
        )
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.monotonic() + 30
            while not (kids := _children(proc.pid)) and proc.poll() is None and time.monotonic() < end:
                time.sleep(0.01)
            assert kids, "poll --once never started its read-ahead worker"
            proc.kill()
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        end = time.monotonic() + 10
        while any(_alive(k) for k in kids) and time.monotonic() < end:
            time.sleep(0.1)
        assert not any(_alive(k) for k in kids), "the read-ahead worker outlived its parent"


def test_the_worker_loads_neither_the_database_layer_nor_http(tmp_path: Path) -> None:
    """The worker is spawned, so it holds only what it imports: what it runs (`_work`) and the
    pickled matcher. A fork (or an import of the database layer) cost the job ~45 MB more."""
    svc, _ = _fetched(tmp_path)
    matcher = tmp_path / "matcher.pickle"
    matcher.write_bytes(pickle.dumps(svc.plan_and_matcher()[1]))
    probe = (
        "import pickle, sys; from spyglass.sources import ahead; "
        f"ahead._start(pickle.loads(open({str(matcher)!r}, 'rb').read())); "
        "ahead._work('S', open(sys.argv[1], 'rb').read(), 'https://example.com/f.xml', {}, None); "
        "print([m for m in ('sqlalchemy', 'httpx', 'slack_sdk', 'alembic') if m in sys.modules])"
    )
    feed = tmp_path / "f.xml"
    feed.write_bytes(rss([distinct_story(k, tag="w") for k in range(3)]))
    got = subprocess.run([sys.executable, "-c", probe, str(feed)], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "[]", got.stdout
