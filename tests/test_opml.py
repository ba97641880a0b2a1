"""`spyglass feeds import FILE.opml` and `spyglass feeds export`: a nested file from a feed reader,
with a duplicate, broken entries and a web page among its feeds, round-tripped; the export is read
back with listparser, the parser feed readers' lists are checked with."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import listparser
import pytest

from spyglass.cli import main
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.route("/a.xml", rss([distinct_story(1)]), content_type="application/rss+xml")
        srv.route("/b.xml", rss([distinct_story(2)]), content_type="application/rss+xml")
        srv.route("/c.xml", rss([distinct_story(3)]), content_type="application/rss+xml")
        srv.route("/page", b"<!doctype html><html><body>no feed here</body></html>", content_type="text/html")
        yield srv


def test_import_a_nested_file_then_export_it(
    tmp_path: Path, feeds: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n[network]\nallow_networks = ["127.0.0.0/8"]\n'
        f'[[sources]]\nname = "Config A"\nurl = "{feeds.url("/a.xml")}"\n'
    )
    opml = tmp_path / "reader.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="1.0"><head><title>My feeds</title></head><body>'
        '<outline text="Privacy"><outline text="Feed B" type="rss" xmlUrl="' + feeds.url("/b.xml") + '"/>'
        '<outline text="Deeper"><outline text="Feed C" type="rss" xmlUrl="' + feeds.url("/c.xml") + '"/>'
        '<outline text="Feed B again" type="rss" xmlUrl="' + feeds.url("/b.xml") + '"/></outline></outline>'
        '<outline text="Already in the config" type="rss" xmlUrl="' + feeds.url("/a.xml") + '"/>'
        '<outline text="A typo" type="rss" xmlUrl="htp:/broken"/>'
        '<outline text="A page" type="rss" xmlUrl="' + feeds.url("/page") + '"/>'
        "</body></opml>"
    )
    assert main(["--config", str(cfg), "feeds", "import", str(opml)]) == 0
    out = capsys.readouterr().out
    assert "added 2 feed(s): Feed B, Feed C" in out
    # listparser folds the repeated entry into one feed; a feed already in the config is reported.
    assert "skipped 1 already there: Already in the config" in out
    assert "not added: A typo: 'htp:/broken' is not an http(s) URL" in out
    assert "not added: A page:" in out and "a web page that names no feed" in out
    with sqlite3.connect(tmp_path / "sg.db") as c:
        rows = c.execute("SELECT name, origin, url FROM sources ORDER BY name").fetchall()
    assert rows == [("Feed B", "opml", feeds.url("/b.xml")), ("Feed C", "opml", feeds.url("/c.xml"))]

    # The imported feeds are polled like any other.
    assert main(["--config", str(cfg), "poll", "--once"]) == 0
    assert feeds.count("/b.xml") >= 2 and feeds.count("/c.xml") >= 2  # checked once, then polled

    capsys.readouterr()
    assert main(["--config", str(cfg), "feeds", "export"]) == 0
    exported = capsys.readouterr().out
    assert ET.fromstring(exported.split("\n", 1)[1]).get("version") == "2.0"
    read = listparser.parse(exported.encode())
    assert not read.bozo
    assert {(f.title, f.url) for f in read.feeds} == {
        ("Config A", feeds.url("/a.xml")),
        ("Feed B", feeds.url("/b.xml")),
        ("Feed C", feeds.url("/c.xml")),
    }


def test_a_file_that_is_not_opml_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n')
    bad = tmp_path / "notes.opml"
    bad.write_bytes(b"\x00\x01 not xml at all")
    assert main(["--config", str(cfg), "feeds", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spyglass: error: ") and "Traceback" not in err
    assert main(["--config", str(cfg), "feeds", "import", str(tmp_path / "missing.opml")]) == 2
    assert "cannot read" in capsys.readouterr().err
