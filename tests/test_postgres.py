"""PostgreSQL: the same migrations, tsvector search, and several worker processes sharing one database.

Needs a real server: SPYGLASS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test
(the `pg_url` fixture skips these tests, saying so, when it is unset).

Worker processes run with shortened leases (module constants read at use time, set by a tiny
wrapper before the CLI starts), so a killed worker's claims expire in seconds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from spyglass.cli import main
from spyglass.config import load_settings
from spyglass.refresh import poll
from spyglass.scheduler import Worker
from spyglass.service import Services, build_services
from spyglass.slack.commands import Caller, handle
from spyglass.store.migrate import current_revision, head_revision
from spyglass.store.schema import Base, Meta, StoryRow
from spyglass.store.search import PostgresSearch, parse_query
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import distinct_story
from support.feedserver import FeedServer

WRAPPER = """
import os, sys
from datetime import timedelta
import spyglass.defaults as defaults
lease = float(os.environ["TEST_LEASE_SECONDS"])
defaults.DELIVERY_LEASE = defaults.SOURCE_LEASE = timedelta(seconds=lease)
from spyglass.cli import main
sys.exit(main(sys.argv[1:]))
"""
LEASE_SECONDS = 3.0
LINK = re.compile(r"<(https?://[^|>]+)")
CHANNELS = ["CFACE", "CALL"]


def pubdate(days_ago: float = 0.01) -> str:
    return format_datetime(datetime.now(timezone.utc) - timedelta(days=days_ago), usegmt=True)


def rss(items: list[tuple[str, str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid><description>{d}</description>"
        f"<pubDate>{p}</pubDate></item>"
        for t, u, d, p in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def write_config(tmp: Path, sources: list[tuple[str, str]], post_interval: float = 0.05) -> Path:
    cfg = tmp / "spyglass.toml"
    cfg.write_text(
        f"[slack]\npost_interval = {post_interval}\n"
        + "".join(f'[[sources]]\nname = "{n}"\nurl = "{u}"\ninterval = "30s"\n' for n, u in sources)
    )
    return cfg


def pg_services(cfg: Path, pg_url: str, slack: FakeSlack | None = None) -> Services:
    env = {"DATABASE_URL": pg_url}
    if slack is not None:
        env |= {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url}
    return build_services(load_settings(cfg, env=env))


# ----------------------------------------------------------------------------- migrations and search
def test_migrations_run_on_postgres(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, [])
    svc = pg_services(cfg, pg_url)
    assert svc.store.dialect == "postgresql"
    assert current_revision(svc.store.engine) == head_revision()
    insp = inspect(svc.store.engine)
    assert set(Base.metadata.tables) <= set(insp.get_table_names())
    for name, table in Base.metadata.tables.items():  # the models mirror the migrated schema
        assert {c.name for c in table.columns} <= {c["name"] for c in insp.get_columns(name)}, name
    with svc.store.engine.connect() as c:
        assert (
            c.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'stories' AND column_name = 'search'"
                )
            ).scalar()
            == "tsvector"
        )
        assert (
            "gin"
            in c.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname = 'ix_stories_search'"
                )
            )
            .scalar_one()
            .lower()
        )
    # Running them again (another process starting) is a no-op.
    os.environ["DATABASE_URL"] = pg_url
    try:
        assert main(["--config", str(cfg), "db", "upgrade"]) == 0
    finally:
        del os.environ["DATABASE_URL"]
    assert "up to date" in capsys.readouterr().out
    svc.store.dispose()


SEARCH_ITEMS = [
    (
        "Police deploy face recognition cameras at the station",
        "https://pg.example/face",
        "Transport police will scan commuters with live face recognition cameras at the station.",
        pubdate(),
    ),
    (
        "Council approves new number plate cameras",
        "https://pg.example/anpr",
        "Automatic number plate recognition cameras will watch every road into town.",
        pubdate(),
    ),
    (
        "Archive: facial recognition ban debated",
        "https://pg.example/old",
        "Councillors debated a ban on facial recognition by the police.",
        pubdate(days_ago=10),
    ),
    (
        "Drone pilots win a race",
        "https://pg.example/drone-race",
        "A hobby race for small drones was held in the park.",
        pubdate(),
    ),
]


def test_a_reason_spanning_title_and_summary_is_stored_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """jsonb refuses a \\u0000 escape: a matched phrase that carried the matcher's title/summary
    separator failed its whole source's transaction (10 of 200 feeds in bench/whole_job.py)."""
    items = [
        ("Council social media monitoring", "https://pg.example/smm", "surveillance of protesters", pubdate())
    ]
    with FeedServer() as feeds:
        feeds.route("/f.xml", body=rss(items), content_type="application/rss+xml")
        svc = pg_services(write_config(tmp_path, [("Feed", feeds.url("/f.xml"))]), pg_url)
        report = poll(svc, "t")
    assert [(r.status, r.error) for r in report.sources] == [("ok", "")]
    assert report.stored == 1
    with svc.store.read() as s:
        matches = s.scalar(select(StoryRow.matches).where(StoryRow.url == "https://pg.example/smm"))
    assert matches == {"social-media-monitoring": ["social media monitoring … surveillance"]}


def test_search_uses_tsvector(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FeedServer() as feeds:
        feeds.route("/f.xml", body=rss(SEARCH_ITEMS), content_type="application/rss+xml")
        cfg = write_config(tmp_path, [("Feed", feeds.url("/f.xml"))])
        svc = pg_services(cfg, pg_url)
        assert isinstance(svc.search, PostgresSearch)
        assert poll(svc, "t").stored == 4

    def urls(raw: str) -> set[str]:
        return {h.url for h in svc.search.search(parse_query(raw))}

    assert "https://pg.example/face" in urls("facial recognition")  # facial ~ face
    assert urls('"face recognition cameras"') == {"https://pg.example/face"}
    assert urls('"recognition cameras at the station"') == {"https://pg.example/face"}  # stop words inside
    assert {"https://pg.example/face", "https://pg.example/old"} <= urls("recogn*")
    assert urls("facial recognition since:7d") == {"https://pg.example/face"}
    assert "https://pg.example/old" in urls("facial recognition since:30d")
    assert urls("cameras topic:alpr") == {"https://pg.example/anpr"}
    assert urls("scanning commuters") == {"https://pg.example/face"}  # stemming
    assert urls("C++ & | ! <-> :* ( ) ' \\") == set()  # raw input never reaches to_tsquery syntax
    hit = svc.search.search(parse_query("commuters"))[0]
    assert "commuters" in hit.snippet
    # `spyglass search` reads through psycopg alone (store/quicksearch.py): the same hits as the store's.
    from spyglass.store.quicksearch import quick_search
    from spyglass.store.search import search as full_search

    for raw in (
        "facial recognition",
        '"face recognition cameras"',
        "recogn*",
        "cameras topic:alpr",
        "facial recognition since:30d",
        "scanning commuters",
        "nothing-matches-this",
    ):
        q = parse_query(raw)
        quick = quick_search(pg_url, q, limit=10)
        assert quick is not None, raw
        assert quick == full_search(svc.search, svc.store, q, limit=10), raw
    assert quick_search(pg_url.replace("/test", "/no_such_database"), parse_query("face")) is None
    # The CLI, same database.
    os.environ["DATABASE_URL"] = pg_url
    try:
        assert main(["--config", str(cfg), "search", "facial", "recognition"]) == 0
    finally:
        del os.environ["DATABASE_URL"]
    assert "pg.example/face" in capsys.readouterr().out
    svc.store.dispose()


# ----------------------------------------------------------------------------- leader lease
def test_only_one_worker_holds_the_leader_lease(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spyglass.defaults as defaults
    import spyglass.scheduler as scheduler

    monkeypatch.setattr(defaults, "LEADER_LEASE", timedelta(seconds=1))
    cfg = write_config(tmp_path, [])
    workers = [Worker(pg_services(cfg, pg_url), poster=None) for _ in range(3)]  # type: ignore[arg-type]
    leaders_per_round: list[list[str]] = []
    for _ in range(15):  # all three ask at once, again and again
        got: dict[str, bool] = {}
        barrier = threading.Barrier(3)

        def ask(w: Worker, barrier: threading.Barrier, got: dict[str, bool]) -> None:
            barrier.wait()
            got[w.owner] = w.is_leader()

        threads = [threading.Thread(target=ask, args=(w, barrier, got)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        leaders_per_round.append([o for o, ok in got.items() if ok])
    assert all(len(r) == 1 for r in leaders_per_round), leaders_per_round
    assert len({r[0] for r in leaders_per_round}) == 1  # the leader keeps its lease while it renews it
    leader = leaders_per_round[0][0]
    # The leader stops renewing (dies): after the lease, exactly one other worker takes over.
    time.sleep(1.2)
    others = [w for w in workers if w.owner != leader]
    results = [w.is_leader() for w in others]
    assert results.count(True) == 1
    with workers[0].svc.store.session() as s:
        row = s.get(Meta, scheduler.LEADER_KEY)
        assert row is not None and row.value != leader
    for w in workers:
        w.svc.store.dispose()


# ----------------------------------------------------------------------------- several workers
class Fleet:
    """N `spyglass run --no-http` processes on one PostgreSQL database, 30 feeds, FakeSlack."""

    def __init__(
        self,
        tmp: Path,
        pg_url: str,
        slack: FakeSlack,
        feeds: FeedServer,
        n_feeds: int = 30,
        first_feed_delay: float = 0.0,
    ) -> None:
        self.tmp, self.pg_url, self.slack, self.feeds = tmp, pg_url, slack, feeds
        self.expected: set[tuple[str, str]] = set()
        sources = []
        for f in range(n_feeds):
            items = []
            for i in range(2):
                url = f"https://fleet.example/{f}/{i}"
                words = " ".join(f"f{f}i{i}w{k}" for k in range(40))
                items.append(
                    (
                        f"Facial recognition story {f}-{i} {words[:40]}",
                        url,
                        f"Police use live facial recognition cameras. {words}",
                        pubdate(),
                    )
                )
                self.expected |= {(ch, url) for ch in CHANNELS}
            feeds.route(
                f"/feed{f}.xml",
                body=rss(items),
                content_type="application/rss+xml",
                delay=first_feed_delay if f == 0 else 0.0,
            )
            sources.append((f"Feed {f}", feeds.url(f"/feed{f}.xml")))
        self.cfg = write_config(tmp, sources)
        svc = pg_services(self.cfg, pg_url, slack)
        for ch in CHANNELS:
            assert handle(svc, Caller("T1", ch, "U1"), "subscribe face-recognition").in_channel
        svc.store.dispose()
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": pg_url,
            "TEST_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        self.engine = create_engine(pg_url)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int) -> None:
        for _ in range(n):
            log = (self.tmp / f"worker{len(self.procs)}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRAPPER, "--config", str(self.cfg), "run", "--no-http"],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def logs(self) -> str:
        return "\n".join(
            (self.tmp / f"worker{i}.log").read_text(errors="replace")[-2000:] for i in range(len(self.procs))
        )

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text(sql)).scalar() or 0)

    def posted(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for p in self.slack.posts(top_level=True):
            m = LINK.search(p.get("text", ""))
            assert m
            out[(p["channel"], m.group(1))] += 1
        return out

    def wait_done(self, timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if (
                set(self.posted()) >= self.expected
                and self.scalar("SELECT count(*) FROM deliveries WHERE status = 'pending'") == 0
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"{len(set(self.posted()))}/{len(self.expected)} posted\n{self.logs()}")

    def stop_all(self) -> list[int | None]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        return [p.wait(timeout=20) for p in self.procs]


@pytest.fixture
def fleet(pg_url: str, tmp_path: Path) -> Iterator[Fleet]:
    with FakeSlack() as slack, FeedServer() as feeds:
        slack.latency = 0.02
        f = Fleet(tmp_path, pg_url, slack, feeds)
        try:
            yield f
        finally:
            f.stop_all()
            f.engine.dispose()


@pytest.mark.timeout(120)
def test_three_workers_post_every_alert_exactly_once(fleet: Fleet) -> None:
    fleet.start(3)
    fleet.wait_done()
    assert fleet.stop_all() == [0, 0, 0], fleet.logs()
    posted = fleet.posted()
    assert set(posted) == fleet.expected
    assert max(posted.values()) == 1, posted.most_common(3)
    assert fleet.scalar("SELECT count(*) FROM stories") == 60
    assert fleet.scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'") == len(fleet.expected)
    assert fleet.scalar("SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == 0
    # The three workers shared the due sources: each feed fetched once (its interval is 15 minutes).
    fetched = Counter(r.route for r in fleet.feeds.requests)
    assert fetched == Counter({f"/feed{f}.xml": 1 for f in range(30)}), fetched
    assert fleet.scalar("SELECT count(*) FROM sources WHERE error_count > 0") == 0


@pytest.mark.timeout(120)
def test_killing_a_worker_mid_run_loses_nothing(fleet: Fleet) -> None:
    fleet.start(3)
    # Wait until some worker is mid-burst, holding claimed deliveries; kill exactly that one.
    end = time.time() + 40
    victim = None
    while time.time() < end and victim is None:
        with fleet.engine.connect() as c:
            owners = [
                r[0]
                for r in c.execute(
                    text(
                        "SELECT lease_owner FROM deliveries WHERE lease_owner IS NOT NULL AND status = 'pending' LIMIT 1"
                    )
                )
            ]
        if owners and len(fleet.slack.posts()) >= 10:
            pid = int(owners[0].split(":")[1])
            victim = next(p for p in fleet.procs if p.pid == pid)
        time.sleep(0.05)
    assert victim is not None, fleet.logs()
    victim.kill()
    victim.wait(timeout=10)
    at_kill = len(fleet.slack.posts())
    fleet.wait_done(timeout=60)
    codes = fleet.stop_all()
    assert sorted(c or 0 for p, c in zip(fleet.procs, codes, strict=True) if p is not victim) == [0, 0], (
        fleet.logs()
    )
    posted = fleet.posted()
    assert set(posted) == fleet.expected  # nothing lost
    dup = {k: n for k, n in posted.items() if n > 1}
    print(f"killed a worker after {at_kill} posts; {len(dup)} duplicate(s)")
    # At most the message in flight in each channel of the killed worker appears twice.
    assert max(posted.values()) <= 2 and len(dup) <= len(CHANNELS), dup
    assert fleet.scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'") == len(fleet.expected)


@pytest.mark.timeout(120)
def test_three_concurrent_poll_once(pg_url: str, tmp_path: Path) -> None:
    """Three `poll --once` at the same moment: sources and deliveries are each handled once.

    One slow feed keeps the first process's claims held for a few seconds (a poll releases its sources
    only once all its fetches are done), so the others, which Python may start a second later, meet
    those claims instead of finding the sources already polled and free again."""
    with FakeSlack() as slack, FeedServer() as feeds:
        f = Fleet(tmp_path, pg_url, slack, feeds, first_feed_delay=3.0)
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "spyglass",
                    "--config",
                    str(f.cfg),
                    "poll",
                    "--once",
                    "--deadline",
                    "60",
                ],
                env=f.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=90)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        for n in range(30):  # every feed fetched exactly once
            assert feeds.count(f"/feed{n}.xml") == 1
        # Any delivery left pending by a poll whose sources were claimed elsewhere: drain it.
        if f.scalar("SELECT count(*) FROM deliveries WHERE status = 'pending'"):
            env = {**f.env}
            subprocess.run(
                [sys.executable, "-m", "spyglass", "--config", str(f.cfg), "poll", "--once"],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        posted = f.posted()
        assert set(posted) == f.expected
        assert max(posted.values()) == 1
        f.engine.dispose()


def test_workers_starting_at_once_on_an_empty_database_migrate_once(pg_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [])
    env = {**os.environ, "DATABASE_URL": pg_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), cmd, *rest],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for cmd, rest in [("db", ["upgrade"]), ("poll", ["--once"]), ("sources", []), ("db", ["upgrade"])]
    ]
    outs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    engine = create_engine(pg_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_simultaneous_subscribes_to_one_topic_all_get_a_real_answer(pg_url: str, tmp_path: Path) -> None:
    """Ten `subscribe drones` at once in one channel: one subscribes, the rest hear "already follows"
    (a unique-constraint race used to end as "Sorry, something went wrong")."""
    cfg = write_config(tmp_path, [])
    svc = pg_services(cfg, pg_url)
    replies: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def one(i: int) -> None:
        start.wait()
        try:
            replies.append(str(handle(svc, Caller("T1", "CRACE", f"U{i}"), "subscribe drones").message))
        except BaseException as e:  # noqa: BLE001 - any escape is the failure under test
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sum("subscribed this channel" in r for r in replies) == 1, replies
    assert sum("already follows" in r for r in replies) == 9, replies


def test_a_command_blocked_by_a_row_lock_answers_busy_and_changes_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    """A write that waits on another transaction's row lock gives up after COMMAND_WAIT instead of
    outliving Slack's 3 s deadline and landing after the user was told it failed."""
    svc = pg_services(write_config(tmp_path, []), pg_url)
    caller = Caller("T1", "CPGLOCK", "U1")
    handle(svc, caller, "unsubscribe all")
    assert "subscribed" in str(handle(svc, caller, "subscribe drones").message)
    engine = create_engine(pg_url)
    with engine.connect() as other:
        other.execute(text("SELECT id FROM subscriptions WHERE channel_id = 'CPGLOCK' FOR UPDATE"))
        reply = str(handle(svc, caller, "unsubscribe all").message)
        other.rollback()
    engine.dispose()
    assert "busy" in reply and "nothing was changed" in reply
    assert "Drones" in str(handle(svc, caller, "list").message)


def test_prune_and_tombstones_on_postgres(pg_url: str, tmp_path: Path) -> None:
    from spyglass.store import retention

    old = datetime.now(timezone.utc) - timedelta(days=400)
    with FeedServer() as feeds:
        feeds.route(
            "/f.xml",
            body=rss(
                [
                    (
                        "Facial recognition old story",
                        "https://pg-old.example/1",
                        "Police use live facial recognition cameras at the station.",
                        format_datetime(old, usegmt=True),
                    )
                ]
            ),
        )
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(f'[[sources]]\nname = "PgOld"\nurl = "{feeds.url("/f.xml")}"\nmax_age = "0"\n')
        svc = pg_services(cfg, pg_url)
        with svc.store.session() as s:  # a clean slate for this source's story
            s.execute(text("DELETE FROM tombstones"))
            s.execute(
                text(
                    "DELETE FROM deliveries WHERE story_id IN (SELECT id FROM stories WHERE url LIKE 'https://pg-old.example/%')"
                )
            )
            s.execute(text("DELETE FROM stories WHERE url LIKE 'https://pg-old.example/%'"))
        assert poll(svc, "t").stored == 1
        from spyglass.delivery.outbox import Outbox
        from spyglass.delivery.posters import make_poster

        Outbox(svc.store, make_poster(svc.settings)).drain(deadline=5)  # the console alert, settled
        report = retention.prune(
            svc.store, retention=365 * 86400, tombstone_retention=0, now=datetime.now(timezone.utc)
        )
        assert report.stories >= 1 and report.tombstones_added >= 2
        with svc.store.session() as s:
            s.execute(text("UPDATE sources SET etag = NULL, last_modified = NULL WHERE name = 'PgOld'"))
        assert poll(svc, "t").stored == 0  # the tombstone keeps it out
        assert int(retention.stats(svc.store)["size on disk (bytes)"]) > 0  # type: ignore[call-overload]


def test_a_due_digest_is_made_and_sent_once_by_three_workers(pg_url: str, tmp_path: Path) -> None:
    """Three workers reach the same due digest at once: one digests row, one message."""
    from spyglass.clock import now_utc
    from spyglass.delivery.digest import make_digests, send_digests
    from spyglass.delivery.slack_poster import SlackPoster, slack_client

    with FakeSlack() as slack, FeedServer() as feeds:
        items = [(*distinct_story(i, "dg"), pubdate()) for i in range(4)]
        feeds.route("/f.xml", rss(items))
        cfg = write_config(tmp_path, [("F", feeds.url("/f.xml"))])
        svc = pg_services(cfg, pg_url, slack)
        caller = Caller(team_id="T1", channel_id="CDIG", user_id="U1")
        assert "subscribed" in handle(svc, caller, "subscribe face-recognition").message["text"]
        assert "daily digest" in handle(svc, caller, "digest daily 09:00 tz=UTC").message["text"]
        poll(svc, "w0")
        with svc.store.session() as s:
            s.execute(text("UPDATE channel_settings SET next_digest_at = now() - interval '1 minute'"))
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                barrier.wait()
                make_digests(svc.store, now_utc())
                send_digests(svc.store, SlackPoster(slack_client(TOKEN, slack.api_url), pacing=0), f"w{n}")
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert len(slack.posts("CDIG")) == 1 and "4 new stories" in str(slack.posts("CDIG")[0]["blocks"])
        with svc.store.session() as s:
            assert s.execute(text("SELECT status, count(*) FROM digests GROUP BY status")).all() == [
                ("sent", 1)
            ]
            assert s.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status")).all() == [
                ("sent", 4)
            ]
