"""Crash safety of the real worker process: SIGKILL and SIGTERM mid-burst, and kills during ingest.

`spyglass run --no-http` runs as a subprocess against tests/support/fakeslack.py and tests/support/feedserver.py.
The only thing changed inside it is the length of the leases (module constants read at use time),
so that work left by a killed process is picked up in seconds instead of minutes.

The guarantee under test (see spyglass/delivery/outbox.py): a delivery row is written before its
post and marked sent with Slack's ts right after. SIGKILL between the post and the mark leaves the
row claimed; after its lease expires the next worker posts it again. So each kill can duplicate at
most the messages in flight at that instant. Channels drain in parallel (each paced on its own), so
that is at most ONE message per channel being drained — never a message twice in one channel more
than once, never more than one duplicate per channel per kill, and nothing lost. Slack has no
idempotency key to do better. SIGTERM lets the message in flight finish and be recorded, so a clean
stop loses and duplicates nothing.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from spyglass.config import load_settings
from spyglass.service import build_services
from spyglass.slack.commands import Caller, handle
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer

CHANNELS = ["CA", "CB", "CC"]
WRAPPER = """
import os, sys
from datetime import timedelta
import spyglass.defaults as defaults
lease = float(os.environ["TEST_LEASE_SECONDS"])
defaults.DELIVERY_LEASE = defaults.SOURCE_LEASE = defaults.LEADER_LEASE = timedelta(seconds=lease)
from spyglass.cli import main
sys.exit(main(sys.argv[1:]))
"""
LEASE_SECONDS = 3.0
LINK = re.compile(r"<(https?://[^|>]+)")


def story(i: int) -> tuple[str, str, str]:
    return distinct_story(i)


class World:
    def __init__(self, tmp: Path, slack: FakeSlack, feeds: FeedServer, n_stories: int) -> None:
        self.tmp, self.slack, self.feeds, self.n = tmp, slack, feeds, n_stories
        self.db = f"sqlite:///{tmp / 'sg.db'}"
        feeds.route(
            "/f.xml", body=rss([story(i) for i in range(n_stories)]), content_type="application/rss+xml"
        )
        self.cfg = tmp / "spyglass.toml"
        self.cfg.write_text(
            f'[storage]\nurl = "{self.db}"\n[slack]\npost_interval = 0.05\n'
            f'[[sources]]\nname = "Feed"\nurl = "{feeds.url("/f.xml")}"\ninterval = "30s"\n'
        )
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.api_url,
            "SPYGLASS_CONFIG": str(self.cfg),
            "TEST_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        svc = build_services(load_settings(self.cfg, env=self.env))
        for ch in CHANNELS:
            assert handle(svc, Caller("T1", ch, "U1"), "subscribe face-recognition").in_channel
        svc.store.dispose()
        self.engine = create_engine(self.db)
        self.logs: list[Path] = []

    @property
    def expected(self) -> set[tuple[str, str]]:
        return {(ch, f"https://news.example/s/{i}") for ch in CHANNELS for i in range(self.n)}

    def start(self) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-c", WRAPPER, "--config", str(self.cfg), "run", "--no-http"],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def posted(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for p in self.slack.posts(top_level=True):
            m = LINK.search(p.get("text", ""))
            assert m, p
            out[(p["channel"], m.group(1))] += 1
        return out

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text(sql)).scalar() or 0)

    def pending(self) -> int:
        return self.scalar("SELECT count(*) FROM deliveries WHERE status = 'pending'")

    def check_invariants(self) -> None:
        """Nothing half-stored: every story is indexed and clustered; every delivery has its story."""
        assert (
            self.scalar(
                "SELECT count(*) FROM stories s WHERE NOT EXISTS "
                "(SELECT 1 FROM lsh_bands b WHERE b.story_id = s.id)"
            )
            == 0
        )
        assert (
            self.scalar(
                "SELECT count(*) FROM stories s WHERE NOT EXISTS "
                "(SELECT 1 FROM clusters c WHERE c.id = s.cluster_id)"
            )
            == 0
        )
        assert (
            self.scalar(
                "SELECT count(*) FROM clusters c WHERE c.representative_id IS NULL OR NOT EXISTS "
                "(SELECT 1 FROM stories s WHERE s.id = c.representative_id)"
            )
            == 0
        )
        assert (
            self.scalar(
                "SELECT count(*) FROM deliveries d WHERE NOT EXISTS "
                "(SELECT 1 FROM stories s WHERE s.id = d.story_id)"
            )
            == 0
        )
        assert (
            self.scalar(
                "SELECT count(*) FROM lsh_bands b WHERE NOT EXISTS "
                "(SELECT 1 FROM stories s WHERE s.id = b.story_id)"
            )
            == 0
        )
        stories = self.scalar("SELECT count(*) FROM stories")
        assert stories in (0, self.n), stories  # one source batch is one transaction: all or nothing
        assert self.scalar("SELECT count(*) FROM deliveries") == (len(self.expected) if stories else 0)

    def wait_done(self, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited {proc.returncode}: {self.logs[-1].read_text()[-3000:]}")
            if (
                self.scalar("SELECT count(*) FROM deliveries")
                and not self.pending()
                and set(self.posted()) >= self.expected
            ):
                return
            time.sleep(0.1)
        raise AssertionError(
            f"outbox not empty after {timeout}s: {self.pending()} pending, "
            f"{len(set(self.posted()))}/{len(self.expected)} posted\n{self.logs[-1].read_text()[-3000:]}"
        )

    def wait_started(self, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if "started:" in self.logs[-1].read_text(errors="replace"):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"worker did not start: {self.logs[-1].read_text()[-3000:]}")


def write_locked(db: Path) -> bool:
    """Does another connection hold the database's write lock right now?"""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeSlack() as slack, FeedServer() as feeds:
        slack.latency = 0.1  # 20 posts per channel ≈ 3 s of burst
        w = World(tmp_path, slack, feeds, n_stories=20)
        yield w
        w.engine.dispose()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_mid_burst_loses_nothing_and_duplicates_at_most_one(seed: int, world: World) -> None:
    rnd = random.Random(seed)
    kill_at = rnd.randint(3, len(world.expected) - 10)  # posts seen before the kill
    proc = world.start()
    try:
        assert world.slack.wait_for(lambda: len(world.slack.posts()) >= kill_at, timeout=30), world.logs[
            -1
        ].read_text()[-3000:]
        time.sleep(rnd.uniform(0, 0.15))  # land anywhere in a post, not just after one
        proc.kill()
        proc.wait(timeout=10)
        at_kill = len(world.slack.posts())
        world.check_invariants()
        time.sleep(LEASE_SECONDS + 0.5)  # the killed worker's leases run out
        proc = world.start()
        world.wait_started(proc)
        world.wait_done(proc)
    finally:
        if proc.poll() is None:
            assert stop(proc) == 0
    posted = world.posted()
    assert set(posted) == world.expected
    dups = sum(n - 1 for n in posted.values())
    per_channel = Counter(ch for (ch, _), n in posted.items() if n > 1)
    print(f"seed {seed}: killed after {at_kill} posts, {dups} duplicate(s) {dict(per_channel)}")
    # At most the message in flight in each channel being drained: one duplicate per channel at most.
    assert max(posted.values()) <= 2, posted.most_common(3)
    assert all(n <= 1 for n in per_channel.values()), per_channel
    assert dups <= len(CHANNELS)
    world.check_invariants()


@pytest.mark.timeout(120)
def test_sigterm_mid_burst_exits_cleanly_losing_and_duplicating_nothing(world: World) -> None:
    """SIGTERM: the message in flight is finished and recorded, so restarting duplicates nothing."""
    proc = world.start()
    try:
        world.wait_started(proc)
        assert world.slack.wait_for(lambda: len(world.slack.posts()) >= 15, timeout=30)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - started
        assert code == 0, world.logs[-1].read_text()[-3000:]
        assert took < 5, f"took {took:.1f}s to stop"
        # Everything Slack accepted is recorded as sent, and nothing is left claimed.
        assert world.scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'") == len(
            world.slack.posts()
        )
        assert world.scalar("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL") == 0
        assert world.pending() > 0  # it really was stopped mid-burst
        world.check_invariants()
        proc = world.start()  # no lease wait needed: a clean stop releases its claims
        world.wait_started(proc)
        world.wait_done(proc, timeout=30)
    finally:
        if proc.poll() is None:
            assert stop(proc) == 0
    posted = world.posted()
    assert set(posted) == world.expected
    assert max(posted.values()) == 1


@pytest.mark.timeout(120)
def test_kill_during_ingest_leaves_nothing_half_stored(tmp_path: Path) -> None:
    with FakeSlack() as slack, FeedServer() as feeds:
        w = World(tmp_path, slack, feeds, n_stories=500)  # the parser's per-feed maximum: a long transaction
        proc = w.start()
        mid_ingest = 0
        try:
            for attempt in range(3):
                w.wait_started(proc)
                # Kill while the worker holds SQLite's write lock for a long while: that is the ingest
                # transaction (claims and state updates hold it for milliseconds).
                held_since = None
                end = time.time() + 20
                while time.time() < end and proc.poll() is None:
                    if write_locked(tmp_path / "sg.db"):
                        held_since = held_since or time.monotonic()
                        if time.monotonic() - held_since > 0.05 * (attempt + 1):
                            break
                    else:
                        held_since = None
                    time.sleep(0.005)
                proc.kill()
                proc.wait(timeout=10)
                w.check_invariants()
                mid_ingest += w.scalar("SELECT count(*) FROM stories") == 0
                time.sleep(LEASE_SECONDS + 0.5)
                proc = w.start()
            print(f"{mid_ingest} of 3 kills landed inside the ingest transaction")
            assert mid_ingest, "no kill landed inside the ingest transaction"
            w.wait_started(proc)
            # Eventually the batch is stored whole and every alert is planned.
            end = time.time() + 60
            while time.time() < end and w.scalar("SELECT count(*) FROM deliveries") < len(w.expected):
                time.sleep(0.2)
            w.check_invariants()
            assert w.scalar("SELECT count(*) FROM stories") == w.n
        finally:
            if proc.poll() is None:
                assert stop(proc) == 0
        w.engine.dispose()


@pytest.mark.timeout(60)
def test_sigterm_during_a_slow_fetch_exits_promptly(tmp_path: Path) -> None:
    """A feed trickling its body (fetch deadline 30 s) must not hold a stopping worker for 30 s."""
    from support.feedserver import trickle

    with FakeSlack() as slack, FeedServer() as feeds:
        w = World(tmp_path, slack, feeds, n_stories=3)
        feeds.route(
            "/slow.xml",
            chunks=trickle(rss([story(i) for i in range(3)]), interval=0.5, step=8),
            content_type="application/rss+xml",
        )
        w.cfg.write_text(
            w.cfg.read_text() + f'[[sources]]\nname = "Slow"\nurl = "{feeds.url("/slow.xml")}"\n'
            'interval = "30s"\n'
        )
        proc = w.start()
        try:
            w.wait_started(proc)
            assert slack.wait_for(lambda: feeds.count("/slow.xml") >= 1, timeout=10)
            time.sleep(0.5)  # well inside the trickle
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=40)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0, w.logs[-1].read_text()[-3000:]
        assert took < 5, f"took {took:.1f}s to stop during a slow fetch"
        # Its claim on the source is given back, so the next worker polls it at once.
        assert w.scalar("SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == 0
        w.engine.dispose()


@pytest.mark.timeout(120)
def test_three_concurrent_poll_once_on_sqlite(tmp_path: Path) -> None:
    """The default store: three `poll --once` at the same moment post every alert exactly once."""
    with FakeSlack() as slack, FeedServer() as feeds:
        w = World(tmp_path, slack, feeds, n_stories=0)
        sources = ""
        for f in range(12):
            # One slow feed holds the first process's claims while the others start (see the PostgreSQL twin).
            feeds.route(
                f"/feed{f}.xml",
                body=rss([story(f * 10 + i) for i in range(3)]),
                content_type="application/rss+xml",
                delay=3.0 if f == 0 else 0.0,
            )
            sources += (
                f'[[sources]]\nname = "Feed {f}"\nurl = "{feeds.url(f"/feed{f}.xml")}"\ninterval = "30s"\n'
            )
        w.cfg.write_text(w.cfg.read_text().split("[[sources]]")[0] + sources)
        expected = {
            (ch, f"https://news.example/s/{f * 10 + i}")
            for ch in CHANNELS
            for f in range(12)
            for i in range(3)
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "spyglass", "poll", "--once", "--deadline", "60"],
                env=w.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=90)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        for f in range(12):
            assert feeds.count(f"/feed{f}.xml") == 1
        if w.pending():  # planned by a poll after the others had finished draining
            subprocess.run(
                [sys.executable, "-m", "spyglass", "poll", "--once"],
                env=w.env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        posted = w.posted()
        assert set(posted) == expected
        assert max(posted.values()) == 1
        w.engine.dispose()
