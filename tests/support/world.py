"""One running Spyglass for end-to-end tests: `spyglass serve` against the stand-in Slack, with a
local feed server, a temporary SQLite database, and helpers to send signed commands and poll."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass.cli import main
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import recent_pubdate
from support.feedserver import FeedServer
from support.slackreq import SECRET, command, wait_listening

ADMIN, MEMBER = "UADMIN1", "UMEMBER1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed(items: list[tuple[tuple[str, str, str], float]], title: str = "Watch Weekly") -> bytes:
    """RSS whose items were published the given number of seconds ago."""
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid><description>{d}</description>"
        f"<pubDate>{recent_pubdate(ago)}</pubDate></item>"
        for (t, u, d), ago in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def slack_env(slack: FakeSlack) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}


def spawn(cfg: Path, slack: FakeSlack, mode: str) -> tuple[int, subprocess.Popen[str]]:
    """`spyglass serve` or `spyglass run` on a free port, talking to the stand-in Slack."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), mode, "--port", str(port)],
        env={**os.environ, **slack_env(slack)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return port, proc


class World:
    def __init__(self, slack: FakeSlack, feeds: FeedServer, port: int, cfg: Path, db: Path) -> None:
        self.slack, self.feeds, self.port, self.cfg, self.db = slack, feeds, port, cfg, db

    def say(self, text: str, *, user: str = ADMIN, channel: str = "CNEWS") -> str:
        return str(command(self.port, self.slack, text, user=user, channel=channel)["text"])

    def poll(self) -> int:
        return main(["--config", str(self.cfg), "poll", "--once"])

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as c:
            return c.execute(sql).fetchall()


def serve_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network: str) -> Iterator[World]:
    """`spyglass serve` on a free port against the stand-in Slack, with one config feed (empty at first) on
    a local feed server; ``network`` is extra config (e.g. a `[network]` allow-list)."""
    with FakeSlack() as slack, FeedServer() as feeds:
        slack.admins.add(ADMIN)
        db = tmp_path / "sg.db"
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\n[slack]\npost_interval = 0.05\n{network}'
            f'[[sources]]\nname = "Config Feed"\nurl = "{feeds.url("/config.xml")}"\n'
        )
        feeds.route("/config.xml", feed([]))
        for k, v in slack_env(slack).items():
            monkeypatch.setenv(k, v)
        port, proc = spawn(cfg, slack, "serve")
        try:
            wait_listening(port, proc)
            yield World(slack, feeds, port, cfg, db)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
