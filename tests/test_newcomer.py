"""What a new user trips over (issue 10), each through the CLI as a subprocess or signed Slack requests."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from feeds import distinct_story, rss
from feedserver import FeedServer


def _spyglass(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spyglass", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _two_sources(tmp_path: Path, feeds: FeedServer) -> Path:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n'
                   f'[[sources]]\nname = "Slow"\nurl = "{feeds.url("/slow.xml")}"\n'
                   f'[[sources]]\nname = "Fast"\nurl = "{feeds.url("/fast.xml")}"\n')
    return cfg


def test_ctrl_c_during_poll_once_gives_the_sources_back(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        feeds.route("/slow.xml", body=rss([distinct_story(1, "slow")]), delay=20)
        feeds.route("/fast.xml", body=rss([distinct_story(1, "fast")]))
        cfg = _two_sources(tmp_path, feeds)
        proc = subprocess.Popen([sys.executable, "-m", "spyglass", "--config", str(cfg), "poll", "--once"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        proc = subprocess.Popen([sys.executable, "-m", "spyglass", "--config", str(cfg), *extra, "run"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        return err

    quiet = first_seconds()
    for chatter in ("alembic", "Adding job tentatively", "token` will be unused", "setup plugin"):
        assert chatter not in quiet, quiet
    assert "worker" in quiet  # its own start line is still there
    chatty = first_seconds("-v")
    assert "alembic" in chatty and "Adding job" in chatty
