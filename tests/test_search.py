"""Search over the story history on SQLite FTS5: the query language, ranking window, and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from spyglass.models import HIT_END, HIT_START, Match, Story
from spyglass.store.db import Store, make_engine, open_store
from spyglass.store.ingest import Plan, ingest
from spyglass.store.migrate import upgrade
from spyglass.store.search import QueryError, SqliteSearch, index_pending, parse_query
from spyglass.urls import canonical_url

NOW = datetime.now(timezone.utc)
STORIES = [
    (
        "Push to have Cleveland at forefront of face recognition technology",
        "A new police boss wants Cleveland to lead on face recognition software.",
        ["face-recognition"],
        2,
    ),
    (
        "Council approves ANPR-equipped cameras on ring road",
        "Automatic number plate recognition cameras will be installed on every approach to the town.",
        ["alpr"],
        1,
    ),
    (
        "Counterterrorism unit buys spyware licences",
        "The unit licensed mercenary spyware for use against serious crime suspects.",
        ["spyware"],
        40,
    ),
    (
        "Countryside drones watch for fly-tipping",
        "Council drones will patrol lanes where rubbish is dumped, the authority said.",
        ["drones"],
        3,
    ),
]


def add(store: Store, rows: list[tuple[str, str, list[str], int]], *, indexed: bool = True) -> None:
    """Store ``rows`` (title, summary, topics, age in days); ``indexed=False`` leaves them queued for
    the full-text index, as a poll does until its end."""
    batch = []
    for i, (title, summary, slugs, days) in enumerate(rows):
        url = f"https://news.example/{abs(hash(title)) % 10**8}-{i}"
        st = Story(
            url=canonical_url(url),
            original_url=url,
            title=title,
            summary=summary,
            published=NOW - timedelta(days=days),
            source="t",
            provider="Paper",
        )
        batch.append((st, [Match(s, (s,)) for s in slugs]))
    with store.session() as s:
        ingest(s, None, batch, plan=Plan(), now=NOW, max_age=0)
    if indexed:
        index_pending(store)  # as a poll does at its end


@pytest.fixture
def search(db_url: str) -> SqliteSearch:
    store = open_store(db_url)
    add(store, STORIES)
    return SqliteSearch(store)


def titles(search: SqliteSearch, q: str) -> list[str]:
    return [h.title for h in search.search(parse_query(q, now=NOW))]


def test_facial_finds_face_recognition(search: SqliteSearch) -> None:
    assert titles(search, "facial recognition")[0].startswith("Push to have Cleveland")


def test_all_words_first_then_any_word(search: SqliteSearch) -> None:
    assert titles(search, "drones fly-tipping") == ["Countryside drones watch for fly-tipping"]
    assert len(titles(search, "drones spyware")) == 2  # nothing has both: any word


def test_phrase_and_prefix(search: SqliteSearch) -> None:
    assert titles(search, '"number plate recognition"') == [
        "Council approves ANPR-equipped cameras on ring road"
    ]
    assert set(titles(search, "coun*")) == {
        "Council approves ANPR-equipped cameras on ring road",
        "Counterterrorism unit buys spyware licences",
        "Countryside drones watch for fly-tipping",
    }


def test_filters(search: SqliteSearch) -> None:
    assert titles(search, "council topic:drones") == ["Countryside drones watch for fly-tipping"]
    assert titles(search, "spyware since:7d") == []
    assert titles(search, "spyware since:8w") == ["Counterterrorism unit buys spyware licences"]


@pytest.mark.parametrize(
    "raw", ["C++", "ANPR-equipped", 'unbalanced "quote', "NEAR(a b)", "a AND OR NOT", "*", "-x"]
)
def test_raw_input_is_never_a_syntax_error(search: SqliteSearch, raw: str) -> None:
    search.search(parse_query(raw, now=NOW))  # must not raise


def test_snippets_mark_the_matched_terms(search: SqliteSearch) -> None:
    hit = search.search(parse_query("mercenary", now=NOW))[0]
    assert f"{HIT_START}mercenary{HIT_END}" in hit.snippet


@pytest.mark.parametrize(("raw", "error"), [("x since:soon", "since:soon"), ("y" * 400, "characters")])
def test_bad_queries_say_why(raw: str, error: str) -> None:
    with pytest.raises(QueryError, match=error):
        parse_query(raw)


def test_only_the_newest_window_is_ranked(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranking is confined to the newest RANK_WINDOW matches: an old perfect match gives way to new ones."""
    from spyglass.store import query as search_mod

    store = open_store(db_url)
    add(store, [("Iris scanners iris iris", "iris iris iris", [], 30)])
    add(store, [(f"Story {i} about an iris scanner", "one mention", [], 1) for i in range(5)])
    monkeypatch.setattr(search_mod, "RANK_WINDOW", 3)
    got = titles(SqliteSearch(store), "iris")
    assert "Iris scanners iris iris" not in got and len(got) == 3


def test_upgrading_an_existing_database_reindexes_its_stories(db_url: str) -> None:
    engine = make_engine(db_url, migrate=False)
    upgrade(engine, "0002")
    # Rows as that schema held them (today's ingest needs later tables, e.g. tombstones).
    with engine.begin() as c:
        for i, (title, summary, _slugs, days) in enumerate(STORIES, 1):
            when = NOW - timedelta(days=days)
            c.execute(
                text("INSERT INTO clusters (id, representative_id, created_at, size) VALUES (:i, :i, :w, 1)"),
                {"i": i, "w": when},
            )
            c.execute(
                text(
                    "INSERT INTO stories (id, url, original_url, title, summary, published_at, fetched_at, "
                    "provider, provider_domain, image, cluster_id, signature, matches, related) VALUES (:i, :u, "
                    ":u, :t, :s, :w, :w, 'Paper', '', '', :i, x'00', '{}', '[]')"
                ),
                {"i": i, "u": f"https://news.example/{i}", "t": title, "s": summary, "w": when},
            )
    upgrade(engine)  # 0003 rebuilds the full-text index with 4-character prefixes
    assert len(titles(SqliteSearch(Store(engine)), "coun*")) == 3


def _fts_ok(store: Store, *, all_indexed: bool = True) -> None:
    """FTS5's own check of its index (raises if it is corrupt); with `all_indexed`, also against
    every row of the stories table, which only holds once nothing is queued."""
    with store.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO stories_fts(stories_fts, rank) VALUES ('integrity-check', ?)", (int(all_indexed),)
        )


def test_stories_wait_for_the_index_and_deletes_and_edits_keep_it_whole(db_url: str) -> None:
    store = open_store(db_url)
    add(store, [("Zebra cameras indexed", "first", [], 1), ("Yak drones indexed", "first", [], 1)])
    add(
        store,
        [(t, "second", [], 0) for t in ("Zebra scanners queued", "Yak robots queued", "Okapi queued")],
        indexed=False,
    )
    engine = store.engine
    with engine.begin() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM fts_pending").scalar() == 3
    assert titles(SqliteSearch(store), "zebra") == ["Zebra cameras indexed"]
    with engine.begin() as c:  # one indexed and one queued story each deleted, and each edited
        c.exec_driver_sql("DELETE FROM stories WHERE title IN ('Yak drones indexed', 'Yak robots queued')")
        c.exec_driver_sql(
            "UPDATE stories SET title = 'Zebra cameras renamed' WHERE title LIKE 'Zebra cameras%'"
        )
        c.exec_driver_sql("UPDATE stories SET title = 'Okapi renamed' WHERE title = 'Okapi queued'")
    _fts_ok(store, all_indexed=False)
    assert index_pending(store) == 2
    _fts_ok(store)
    assert sorted(titles(SqliteSearch(store), "zebra")) == ["Zebra cameras renamed", "Zebra scanners queued"]
    assert titles(SqliteSearch(store), "yak") == []
    assert titles(SqliteSearch(store), "renamed okapi") == ["Okapi renamed"]
    assert index_pending(store) == 0


def test_a_story_edited_before_it_is_indexed_is_indexed_as_edited(db_url: str) -> None:
    # The index's first story: an edit that touched the index for a never-indexed row would
    # leave FTS5 unable to take the row at all ("database disk image is malformed").
    store = open_store(db_url)
    add(store, [("Okapi queued", "second", [], 0)], indexed=False)
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE stories SET title = 'Okapi renamed'")
    assert index_pending(store) == 1
    _fts_ok(store)
    assert titles(SqliteSearch(store), "renamed") == ["Okapi renamed"]
    assert titles(SqliteSearch(store), "queued") == []


def test_a_poll_makes_its_stories_searchable(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: Council votes on gait recognition cameras\n"
        "originalUrl: https://news.example/gait\npublishedDateTime: 2026-05-30T09:00:00Z\n"
        "excerpt: The council voted on cameras that recognise people by how they walk.\n---\n"
    )
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "{db_url}"\n[[sources]]\nname = "desk"\npath = "{folder}"\nmax_age = "0"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}

    def spyglass(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "spyglass", "--config", str(cfg), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    got = spyglass("poll", "--once")
    assert got.returncode == 0, got.stderr
    found = spyglass("search", "gait")
    assert "Council votes on gait recognition cameras" in found.stdout, found.stdout + found.stderr


@pytest.mark.parametrize(
    ("since", "seconds"),
    [
        ("15m", 900),
        ("2h", 7200),
        ("7d", 7 * 86400),
        ("3mo", 90 * 86400),
        ("1y", 365 * 86400),
        ("2 hours", 7200),
    ],
)
def test_since_means_the_same_units_as_the_config(since: str, seconds: int) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    q = parse_query(f'drones since:"{since}"' if " " in since else f"drones since:{since}", now=now)
    assert q.since == now - timedelta(seconds=seconds)


@pytest.mark.parametrize("since", ["9999y", "5x", "forever", "-3d"])
def test_impossible_since_is_one_clear_line(since: str) -> None:
    with pytest.raises(QueryError, match="not understood"):
        parse_query(f"drones since:{since}")


QUERIES = [
    "face recognition",
    "facial recognition",  # a synonym
    "licence",  # a spelling variant
    '"number plate recognition"',
    "counter*",
    "drones topic:drones",
    "cameras since:2d",
    "spyware council",  # nothing has both: any word then
    "teleportation",
]


@pytest.mark.parametrize("raw", QUERIES)
def test_the_cli_quick_path_answers_exactly_as_the_full_search(db_url: str, raw: str) -> None:
    """`spyglass search` on SQLite skips SQLAlchemy (store/quicksearch.py); the store's own search is
    the reference it must agree with, hit for hit (a second implementation, compared)."""
    from spyglass.store.quicksearch import quick_search
    from spyglass.store.search import search as run_search

    store = open_store(db_url)
    add(store, STORIES)
    # Syndicated copies, so that cluster folding is compared too.
    add(store, [(STORIES[0][0] + " ", STORIES[0][1], ["face-recognition"], 2)] * 1)
    q = parse_query(raw)
    quick = quick_search(db_url, q, limit=10)
    assert quick is not None
    full = run_search(SqliteSearch(store), store, q, limit=10)
    assert [(h.story_id, h.title, h.snippet, h.others) for h in quick] == [
        (h.story_id, h.title, h.snippet, h.others) for h in full
    ]
    assert [round(h.score, 6) for h in quick] == [round(h.score, 6) for h in full]


def test_the_quick_path_steps_aside_where_it_cannot_answer(db_url: str, tmp_path: Path) -> None:
    from spyglass.store.quicksearch import quick_search

    q = parse_query("face")
    assert (
        quick_search(f"sqlite:///{tmp_path / 'missing.db'}", q) is None
    )  # no file: the full path creates it
    assert quick_search("postgresql+psycopg://x@127.0.0.1/db", q) is None
    old = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{old}", migrate=False)
    upgrade(engine, "0008")
    engine.dispose()
    assert quick_search(f"sqlite:///{old}", q) is None  # an older schema: the full path migrates it
    store = open_store(db_url)
    add(store, STORIES)
    assert quick_search(db_url, parse_query("topic:drones")) is None  # filters alone: the latest


def test_spyglass_search_does_not_import_sqlalchemy(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add(store, STORIES)
    store.dispose()
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "{db_url}"\n')
    probe = (
        "import sys; from spyglass.cli import main; "
        f"rc = main(['--config', {str(cfg)!r}, 'search', 'face', 'recognition']); "
        "print('SQLALCHEMY' if 'sqlalchemy' in sys.modules else 'NONE', rc)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Cleveland" in out.stdout and out.stdout.strip().endswith("NONE 0")
