"""A history that stays small: prune by age, keep what is still owed, never re-add what was pruned."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from spyglass.config import load_settings
from spyglass.delivery.outbox import Outbox
from spyglass.refresh import poll
from spyglass.runtime import make_poster
from spyglass.service import build_services
from spyglass.slack.commands import Caller, handle
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import distinct_story
from support.feedserver import FeedServer


def _feed(items: list[tuple[tuple[str, str, str], int]] | list[tuple[tuple[str, str, str], float]]) -> bytes:
    """RSS with each story published `days` ago."""
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid><description>{d}</description>"
        f"<pubDate>{format_datetime(datetime.now(timezone.utc) - timedelta(days=days), usegmt=True)}</pubDate></item>"
        for (t, u, d), days in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
    )


def test_prune_keeps_what_is_owed_and_a_pruned_story_never_comes_back(tmp_path: Path) -> None:
    db = tmp_path / "sg.db"
    old = [distinct_story(i, "old") for i in range(3)]
    new = [distinct_story(i, "new") for i in range(2)]
    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/f.xml", body=_feed([(s, 400) for s in old] + [(s, 1) for s in new]))
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\nretention = "365d"\n[slack]\npost_interval = 0\n'
            f'[[sources]]\nname = "F"\nurl = "{feeds.url("/f.xml")}"\nmax_age = "0"\n'
        )
        svc = build_services(
            load_settings(cfg, env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url})
        )
        assert handle(svc, Caller("T1", "CRET", "U1"), "subscribe face-recognition").in_channel
        assert poll(svc, "t").stored == 5  # an archival source (max_age "0") stores old stories too
        Outbox(svc.store, make_poster(svc.settings)).drain(deadline=10)
        assert len(slack.posts("CRET", top_level=True)) == 5
        with sqlite3.connect(db) as c:  # one old alert still owed (say, its channel is paused)
            owed = c.execute("SELECT id FROM stories WHERE url LIKE '%/old/0'").fetchone()[0]
            c.execute("UPDATE deliveries SET status = 'held' WHERE story_id = ?", (owed,))
            pruned_ids = [
                r[0]
                for r in c.execute("SELECT id FROM stories WHERE url LIKE '%/old/%' AND id != ?", (owed,))
            ]

        # Archival sources keep their old stories on purpose: nothing of theirs is pruned.
        assert "would remove 0 stories" in _cli(cfg, "db", "prune", "--dry-run").stdout
        cfg.write_text(cfg.read_text().replace('max_age = "0"\n', ""))  # now an ordinary feed

        dry = _cli(cfg, "db", "prune", "--dry-run")
        assert (
            dry.returncode == 0
            and "would remove 2 stories" in dry.stdout
            and "kept 1 old story" in dry.stdout
        )
        done = _cli(cfg, "db", "prune")
        assert done.returncode == 0 and "removed 2 stories" in done.stdout, done.stdout + done.stderr
        with sqlite3.connect(db) as c:
            left = {r[0] for r in c.execute("SELECT url FROM stories")}
            bands = c.execute(
                f"SELECT count(*) FROM lsh_bands WHERE story_id IN ({','.join('?' * len(pruned_ids))})",
                pruned_ids,
            ).fetchone()[0]
            fts = c.execute("SELECT count(*) FROM stories_fts WHERE stories_fts MATCH 'old1w1'").fetchone()[0]
            tombstones = c.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        assert left == {old[0][1], new[0][1], new[1][1]}  # the owed one and the recent ones stay
        assert bands == 0 and fts == 0 and tombstones == 4  # URL and GUID of each pruned story

        # The feed still lists the pruned stories: nothing new is stored, nothing is alerted again,
        # even with no retention limit at ingest (so only the tombstones can keep them out).
        cfg.write_text(cfg.read_text().replace('retention = "365d"', 'retention = "0"'))
        svc2 = build_services(
            load_settings(cfg, env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url})
        )
        assert poll(svc2, "t").stored == 0
        Outbox(svc2.store, make_poster(svc2.settings)).drain(deadline=5)
        assert len(slack.posts("CRET", top_level=True)) == 5
        stats = _cli(cfg, "db", "stats").stdout
        assert "stories: 3" in stats and "tombstones: 4" in stats and "bytes per story" in stats


def test_stories_past_retention_are_not_stored_and_prune_gives_space_back(tmp_path: Path) -> None:
    db = tmp_path / "sg.db"
    bulky = [
        (
            f"Facial recognition archive {i}",
            f"https://news.example/a/{i}",
            "Police facial recognition. " * 200,
        )
        for i in range(400)
    ]
    with FeedServer() as feeds:
        feeds.route("/f.xml", body=_feed([(s, 30) for s in bulky]))
        feeds.route("/ancient.xml", body=_feed([(distinct_story(1, "anc"), 800)]))
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\nretention = "365d"\n'
            f'[[sources]]\nname = "F"\nurl = "{feeds.url("/f.xml")}"\n'
            f'[[sources]]\nname = "Ancient"\nurl = "{feeds.url("/ancient.xml")}"\n'
        )
        assert _cli(cfg, "poll", "--once").returncode == 0
        with sqlite3.connect(db) as c:
            assert c.execute("SELECT count(*) FROM stories WHERE url LIKE '%/anc/%'").fetchone()[0] == 0
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = db.stat().st_size
        cfg.write_text(cfg.read_text().replace('retention = "365d"', 'retention = "7d"'))
        done = _cli(cfg, "db", "prune")
        assert "removed 400 stories" in done.stdout, done.stdout + done.stderr
        assert db.stat().st_size < before / 2, (before, db.stat().st_size)


def test_the_leader_prunes_once_a_day(tmp_path: Path) -> None:
    from spyglass.delivery.posters import ConsolePoster
    from spyglass.scheduler import Worker

    db = tmp_path / "sg.db"
    with FeedServer() as feeds:
        feeds.route("/f.xml", body=_feed([(distinct_story(i, "d"), 20) for i in range(3)]))
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\nretention = "30d"\n'
            f'[[sources]]\nname = "F"\nurl = "{feeds.url("/f.xml")}"\n'
        )
        svc = build_services(load_settings(cfg, env={}))
        assert poll(svc, "t").stored == 3
        svc.settings = dataclasses.replace(svc.settings, retention=10 * 86400.0)
        worker = Worker(svc, ConsolePoster())
        worker.leader_jobs()
        with sqlite3.connect(db) as c:
            assert c.execute("SELECT count(*) FROM stories").fetchone()[0] == 0
            c.execute("INSERT INTO tombstones (key, expires_at) VALUES ('x', '2000-01-01 00:00:00')")
        worker.leader_jobs()  # the same day: no second prune (it would have removed the expired tombstone)
        with sqlite3.connect(db) as c:
            assert c.execute("SELECT count(*) FROM tombstones WHERE key = 'x'").fetchone()[0] == 1


def test_two_workers_poll_each_due_source_once(tmp_path: Path) -> None:
    """Every worker polls due sources (there is no leader for that); a source one of them polled
    is not due for the other until its interval has passed, or a backoff has ended."""
    from spyglass.delivery.posters import ConsolePoster
    from spyglass.scheduler import Worker

    db = tmp_path / "sg.db"
    with FeedServer() as feeds:
        lines = [f'[storage]\nurl = "sqlite:///{db}"\n']
        for name in "ABC":
            feeds.route(f"/{name}.xml", body=_feed([(distinct_story(i, name), 0) for i in range(2)]))
            lines.append(f'[[sources]]\nname = "{name}"\nurl = "{feeds.url(f"/{name}.xml")}"\n')
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text("\n".join(lines))
        first, second = (
            Worker(build_services(load_settings(cfg, env={})), ConsolePoster()) for _ in range(2)
        )
        assert first.poll_round(sync=True) == 3
        assert second.poll_round(sync=True) == 0
        assert [feeds.count(f"/{n}.xml") for n in "ABC"] == [1, 1, 1]
        with sqlite3.connect(db) as c:  # B due again at once, as after a backoff
            c.execute("UPDATE sources SET next_attempt_at = NULL WHERE name = 'B'")
        assert second.poll_round() == 1
        assert [feeds.count(f"/{n}.xml") for n in "ABC"] == [1, 2, 1]


def test_a_limited_claim_takes_the_most_overdue_sources_first(tmp_path: Path) -> None:
    from spyglass.sources import state

    db = tmp_path / "sg.db"
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n'
        + "".join(f'[[sources]]\nname = "{n}"\nurl = "https://x.example/{n}"\n' for n in "ABCD")
    )
    svc = build_services(load_settings(cfg, env={}))
    state.sync_sources(svc)
    now = datetime.now(timezone.utc)
    with sqlite3.connect(db) as c:
        for name, due in (("A", now - timedelta(minutes=1)), ("C", now - timedelta(hours=1))):
            c.execute(
                "UPDATE sources SET next_attempt_at = ? WHERE name = ?",
                (due.strftime("%Y-%m-%d %H:%M:%S.000000"), name),
            )
        c.execute("UPDATE sources SET next_attempt_at = '2999-01-01 00:00:00.000000' WHERE name = 'D'")
    # B was never polled (most overdue), then C an hour late, then A; D is not due at all.
    assert sorted(state.claim(svc, list("ABCD"), "w1", only_due=True, limit=2)) == ["B", "C"]
    assert sorted(state.claim(svc, list("ABCD"), "w2", only_due=True, limit=2)) == ["A"]


def _bulk_old_history(db: Path, n: int) -> None:
    """n stories published two years ago, with clusters, LSH bands and full-text rows (the trigger)."""
    from spyglass.store.db import open_store

    open_store(f"sqlite:///{db}").dispose()
    when = (datetime.now(timezone.utc) - timedelta(days=730)).strftime("%Y-%m-%d %H:%M:%S.000000")
    with sqlite3.connect(db) as c:
        c.executemany(
            "INSERT INTO clusters (id, representative_id, created_at, size) VALUES (?, ?, ?, 1)",
            [(i, i, when) for i in range(1, n + 1)],
        )
        c.executemany(
            "INSERT INTO stories (id, url, original_url, guid, title, summary, published_at, fetched_at, provider, "
            "provider_domain, image, cluster_id, signature, matches, related) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '', '', ?, ?, '{}', '[]')",
            [
                (
                    i,
                    f"https://old.example/{i}",
                    f"https://old.example/{i}",
                    f"g{i}",
                    f"Old story {i}",
                    f"An old story about cameras number {i}.",
                    when,
                    when,
                    i,
                    b"\0" * 16,
                )
                for i in range(1, n + 1)
            ],
        )
        c.executemany(
            "INSERT INTO lsh_bands (band, story_id) VALUES (?, ?)",
            [(i * 16 + b, i) for i in range(1, n + 1) for b in range(4)],
        )


def test_a_large_prune_never_keeps_slack_commands_waiting(tmp_path: Path) -> None:
    import socket

    from support.slackreq import SECRET, command, wait_listening

    db = tmp_path / "sg.db"
    _bulk_old_history(db, 20_000)
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{db}"\nretention = "365d"\n')
    with FakeSlack() as slack:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        serve = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_listening(port, serve)
            prune = subprocess.Popen(
                [sys.executable, "-m", "spyglass", "--config", str(cfg), "db", "prune"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            answers: list[str] = []
            while prune.poll() is None or not answers:
                verb = "subscribe" if len(answers) % 2 == 0 else "unsubscribe"
                answers.append(str(command(port, slack, f"{verb} drones", channel="CPRUNE")["text"]))
            out, err = prune.communicate(timeout=120)
        finally:
            serve.terminate()
            serve.communicate(timeout=20)
    assert "removed 20000 stories" in out, out + err
    assert answers and not [a for a in answers if "busy" in a], (
        answers
    )  # every change got the write lock in time
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM stories").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM lsh_bands").fetchone()[0] == 0
