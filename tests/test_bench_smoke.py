"""The benchmark's building blocks import and work on a tiny scale (no timing assertions)."""

from __future__ import annotations

import io
import sys
import urllib.request
from pathlib import Path

import feedparser
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import gen  # noqa: E402


def test_generated_feeds_are_seeded_and_parse() -> None:
    a = gen.make_feeds(3, 5, seed=7)
    assert a == gen.make_feeds(3, 5, seed=7)
    assert a != gen.make_feeds(3, 5, seed=8)
    for body in a:
        d = feedparser.parse(io.BytesIO(body))
        assert not d.bozo and len(d.entries) == 5


def test_feed_server_answers_304_to_its_etag(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with gen.feed_server(gen.make_feeds(1, 2, seed=1)) as srv:
        url = srv.url(gen.feed_path(0))
        first = opener.open(url)
        assert first.status == 200
        req = urllib.request.Request(url, headers={"If-None-Match": first.headers["ETag"]})
        try:
            opener.open(req)
            raise AssertionError("expected 304")
        except urllib.error.HTTPError as e:
            assert e.code == 304
        assert (srv.answered[200], srv.answered[304]) == (1, 1)


def test_history_db_tiny(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(gen, "CACHE_DIR", tmp_path)
    path = gen.history_db(50, seed=3, log=lambda _m: None)
    import sqlite3

    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 50
    assert db.execute("SELECT count(*) FROM lsh_bands").fetchone()[0] >= 50
    assert (
        db.execute(
            "SELECT count(*) FROM stories_fts WHERE stories_fts MATCH 'the OR council OR police'"
        ).fetchone()[0]
        > 0
    )


@pytest.mark.parametrize("layout", ["monthly zips", "daily files"])
def test_realnews_scores_labels_against_an_archive_copy(tmp_path: Path, layout: str) -> None:
    """bench/realnews.py joins labels to an archive's texts by URL and counts what the shipped topics get,
    from the archive's monthly zips or from a checkout of its daily files (before they were zipped)."""
    import json
    import subprocess
    import zipfile

    entries = [
        {
            "link": "https://news.example/a",
            "title": "Police roll out live facial recognition vans",
            "description": "<p>The force scanned 40,000 faces.</p><p>The post X appeared first on Y.</p>",
        },
        {
            "link": "https://news.example/b",
            "title": "Drone footage shows volcano erupting",
            "description": "Lava.",
        },
        {
            "link": "https://news.example/c",
            "title": "Council budget approved",
            "description": "Tax rises 3%.",
        },
    ]
    if layout == "monthly zips":
        (tmp_path / "2022").mkdir()
        with zipfile.ZipFile(tmp_path / "2022" / "01.zip", "w") as z:
            z.writestr("01/2022-01-03/feed_entries.json", json.dumps(entries))
    else:
        day = tmp_path / "2022" / "01" / "2022-01-03"
        day.mkdir(parents=True)
        (day / "feed_entries.json").write_text(json.dumps(entries), encoding="utf-8")
    labels = tmp_path / "set.yaml"
    labels.write_text(
        "source: rumca-js/RSS-Link-Database-2022\nitems:\n"
        "- {url: 'https://news.example/a', topics: [face-recognition]}\n"
        "- {url: 'https://news.example/b', topics: []}\n"
        "- {url: 'https://news.example/c', topics: [cctv]}\n",  # a deliberate miss: the report must count it
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "realnews.py"),
            str(labels),
            "--archive",
            str(tmp_path),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["precision"] == 1.0 and figures["recall"] == 0.5, out.stdout
    assert figures["per_topic"]["cctv"] == {"fn": 1}
