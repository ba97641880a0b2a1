"""Console delivery (no Slack token): a claimed batch is printed and marked in one transaction;
thread replies follow their alert, in the same poll or a later one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from spyglass.cli import main
from support.feeds import rss
from support.feedserver import FeedServer

STORY = (
    "Police roll out live facial recognition vans in Croydon",
    "https://news.example/frt-vans",
    "The Metropolitan Police will park live facial recognition cameras on the high street twice a week.",
)
COPY = (
    "Met to use facial recognition vans on Croydon high street",
    "https://other.example/met-vans",
    "The Metropolitan Police will park live facial recognition cameras on the high street twice a week.",
)
LATER = (
    "Facial recognition vans come to Croydon, police say",
    "https://third.example/vans",
    "The Metropolitan Police will park live facial recognition cameras on the high street twice a week.",
)


def test_alert_then_its_replies_in_one_batch_and_across_polls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as feeds:
        feeds.route("/a.xml", rss([STORY]))
        feeds.route("/b.xml", rss([COPY]))
        db = tmp_path / "sg.db"
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\n'
            f'[[sources]]\nname = "A"\nurl = "{feeds.url("/a.xml")}"\n'
            f'[[sources]]\nname = "B"\nurl = "{feeds.url("/b.xml")}"\n'
        )
        assert main(["--config", str(cfg), "poll", "--once"]) == 0
        out = capsys.readouterr().out
        assert (
            out.count(STORY[1]) == 1
            and "↳ also covered by" in out
            and out.index(STORY[1]) < out.index(COPY[1])
        )
        feeds.route("/b.xml", rss([COPY, LATER]))
        assert main(["--config", str(cfg), "poll", "--once"]) == 0
        out = capsys.readouterr().out
        assert STORY[1] not in out and "↳ also covered by" in out and LATER[1] in out
        assert main(["--config", str(cfg), "poll", "--once"]) == 0
        assert capsys.readouterr().out == ""  # everything was marked sent: nothing printed twice
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT kind, status, ts IS NOT NULL, attempts, lease_owner FROM deliveries ORDER BY id"
        ).fetchall()
    assert rows == [
        ("alert", "sent", 1, 1, None),
        ("reply", "sent", 1, 1, None),
        ("reply", "sent", 1, 1, None),
    ]
