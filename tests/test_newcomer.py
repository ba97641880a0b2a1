"""What a new user trips over (issue 10), each through the CLI as a subprocess or signed Slack requests."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.feeds import distinct_story, recent_pubdate, rss
from support.feedserver import FeedServer


def _spyglass(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _two_sources(tmp_path: Path, feeds: FeedServer) -> Path:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n'
        f'[[sources]]\nname = "Slow"\nurl = "{feeds.url("/slow.xml")}"\n'
        f'[[sources]]\nname = "Fast"\nurl = "{feeds.url("/fast.xml")}"\n'
    )
    return cfg


def test_ctrl_c_during_poll_once_gives_the_sources_back(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        feeds.route("/slow.xml", body=rss([distinct_story(1, "slow")]), delay=20)
        feeds.route("/fast.xml", body=rss([distinct_story(1, "fast")]))
        cfg = _two_sources(tmp_path, feeds)
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 30
        while feeds.count("/slow.xml") == 0 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err, err
        assert len(err.strip().splitlines()) == 1, err
        with sqlite3.connect(tmp_path / "sg.db") as c:
            leased = c.execute("SELECT name FROM sources WHERE lease_owner IS NOT NULL").fetchall()
        assert leased == []
        # The next poll reads both sources at once instead of finding them leased for 10 minutes.
        feeds.route("/slow.xml", body=rss([distinct_story(1, "slow")]))
        done = _spyglass("--config", str(cfg), "poll", "--once")
        assert done.returncode == 0, done.stderr
        assert "polled 2 source(s)" in done.stderr


def test_start_up_is_quiet_at_the_default_level_and_chatty_with_v(tmp_path: Path) -> None:
    """`spyglass run` on the bundled default: what it logs before its first alert is about Spyglass."""
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}

    def first_seconds(*extra: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), *extra, "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        return err

    quiet = first_seconds()
    for chatter in ("alembic", "Adding job tentatively", "token` will be unused", "setup plugin"):
        assert chatter not in quiet, quiet
    assert "worker" in quiet  # its own start line is still there
    (
        tmp_path / "sg.db"
    ).unlink()  # migrations run again (on an up-to-date database Alembic is not even imported)
    for extra in ("sg.db-wal", "sg.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    chatty = first_seconds("-v")
    assert "alembic" in chatty and "Adding job" in chatty


BAD_CONFIGS = [
    ('[network]\nallow_networks = ["not-a-network"]\n', "network.allow_networks", "is not a network"),
    ('[network]\nallow_hosts = "localhost"\n', "network.allow_hosts", "must be a list of strings"),
    ('[storage]\nurl = "foo://x"\n', "storage.url", "unsupported database 'foo'"),
    ('[storage]\nurl = "mysql://u@h/db"\n', "storage.url", "MySQL is not supported"),
    ('[storage]\nurl = "sqlite:///"\n', "storage.url", "in-memory database"),
    ('[storage]\nurl = "sqlite://"\n', "storage.url", "in-memory database"),
    ('[storage]\nurl = "postgresql+asyncpg://u@h/db"\n', "storage.url", "postgresql+psycopg://"),
    (
        '[[sources]]\nname = "F"\nurl = "https://example.org/f"\ninterval = "15 parsecs"\n',
        "interval",
        "not a duration",
    ),
    ('max_age = "9999y"\n', "max_age", "longer than 50 years"),
    ('[[topics.custom]]\nslug = "mine"\nlabel = "Mine"\n', "topics.custom[0]", "missing 'phrases'"),
]


@pytest.mark.parametrize(("toml", "names", "says"), BAD_CONFIGS)
def test_config_mistakes_are_one_line_and_exit_2(tmp_path: Path, toml: str, names: str, says: str) -> None:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(toml)
    done = _spyglass("--config", str(cfg), "sources", env={"DATABASE_URL": ""})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(cfg) in done.stderr and names in done.stderr and says in done.stderr, done.stderr


def test_durations_read_as_people_write_them(tmp_path: Path) -> None:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'max_age = "2 hours"\n[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n'
        '[[sources]]\nname = "F"\nurl = "https://example.org/f"\ninterval = "15 minutes"\n'
    )
    from spyglass.config import load_settings

    settings = load_settings(cfg, env={})
    assert settings.max_age == 7200 and settings.sources[0].interval == 900
    assert _spyglass("--config", str(cfg), "sources").returncode == 0


@pytest.mark.parametrize("limit", ["0", "-3", "1000", "ten"])
def test_search_limit_out_of_range_is_refused(tmp_path: Path, limit: str) -> None:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n')
    done = _spyglass("--config", str(cfg), "search", "drones", "--limit", limit)
    assert done.returncode == 2 and "--limit" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_quiet_poll_explains_itself_and_a_failed_source_fails_the_command(tmp_path: Path) -> None:
    old = recent_pubdate(10 * 86400)  # past max_age (72h), within retention (365d)
    ancient = "Mon, 02 Jan 2006 10:00:00 GMT"  # past retention: not even stored
    with FeedServer() as feeds:
        feeds.route(
            "/old.xml",
            body=rss([distinct_story(i, "old") for i in range(3)], pubdate=old).replace(
                b"</channel>",
                rss([distinct_story(9, "anc")], pubdate=ancient)
                .split(b"<title>T</title>", 1)[1]
                .split(b"</channel>")[0]
                + b"</channel>",
            ),
        )
        feeds.route(
            "/new.xml",
            body=rss(
                [
                    distinct_story(1, "new"),
                    (
                        "Council resurfaces the high street",
                        "https://news.example/road",
                        "The works will take three weeks and close two lanes.",
                    ),
                ]
            ),
        )
        feeds.route("/gone.xml", status=500)
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n'
            + "".join(
                f'[[sources]]\nname = "{n}"\nurl = "{feeds.url(f"/{n}.xml")}"\n'
                for n in ("old", "new", "gone")
            )
        )
        # With a bot token but no subscriptions, nothing is alerted: the summary says why.
        env = {"SLACK_BOT_TOKEN": "xoxb-not-used", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
        done = _spyglass("--config", str(cfg), "poll", "--once", env=env)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert sum("HTTP 500" in line for line in lines) == 1, done.stderr  # once, not twice
    assert "source gone: error: HTTP 500" in done.stderr
    [why] = [line for line in lines if "not alerted" in line]
    assert "3 older than max_age (72h)" in why, why
    assert "1 older than [storage] retention (365d), not stored" in why, why
    assert "1 on topics no channel follows (face-recognition" in why, why
    assert "1 about none of the topics" in why, why
