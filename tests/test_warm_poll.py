"""A poll where every feed answers 304: nothing is stored, and every source's bookkeeping (last
success, next attempt, validators, lease) is still written, in one transaction for all of them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from spyglass.config import load_settings
from spyglass.refresh import poll
from spyglass.service import build_services
from support.feeds import distinct_story, rss
from support.feedserver import FeedServer


def test_a_warm_poll_records_every_source_and_frees_every_lease(tmp_path: Path) -> None:
    with FeedServer() as feeds:
        for i in range(3):
            feeds.route(f"/f{i}.xml", rss([distinct_story(i)]), etag=f'"v{i}"')
        db = tmp_path / "sg.db"
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{db}"\n'
            + "".join(f'[[sources]]\nname = "F{i}"\nurl = "{feeds.url(f"/f{i}.xml")}"\n' for i in range(3))
        )
        svc = build_services(load_settings(cfg, env={}))
        assert poll(svc, "w1").stored == 3
        with sqlite3.connect(db) as c:
            first = dict(c.execute("SELECT name, last_success_at FROM sources").fetchall())
        time.sleep(0.01)
        report = poll(svc, "w2")
    assert sorted((r.name, r.status) for r in report.sources) == [(f"F{i}", "not_modified") for i in range(3)]
    assert all(feeds.last(f"/f{i}.xml").headers.get("if-none-match") == f'"v{i}"' for i in range(3))
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT name, last_success_at, next_attempt_at, etag, lease_owner, error_count FROM sources ORDER BY name"
        ).fetchall()
    for i, (name, success, next_at, etag, lease, errors) in enumerate(rows):
        assert success > first[name] and next_at > success, rows
        assert (etag, lease, errors) == (f'"v{i}"', None, 0), rows


def test_a_console_poll_imports_neither_slacks_sdk_nor_postgres_nor_the_markdown_parser(
    tmp_path: Path,
) -> None:
    """Start-up is most of a warm poll: what a console poll of feeds never uses is never imported
    (slack_sdk alone was a tenth of a second of every `poll --once`); nor, when every feed answers
    304, numpy (MinHash), which only storing new stories needs."""
    heavy = ["slack_sdk", "sqlalchemy.dialects.postgresql", "markdown_it", "frontmatter", "numpy"]
    with FeedServer() as feeds:
        feeds.route("/f.xml", rss([distinct_story(1)]), etag='"v1"')
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n[[sources]]\nname = "F"\nurl = "{feeds.url("/f.xml")}"\n'
        )
        probe = (
            "import sys; from spyglass.cli import main; "
            f"rc = main(['--config', {str(cfg)!r}, 'poll', '--once']); "
            f"print('LOADED', [m for m in {heavy!r} if m in sys.modules], rc)"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().endswith("_PROXY") and not k.startswith("SLACK_")
        }
        runs = [
            subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
        ]
        runs.append(
            subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
        )
    cold, warm = runs
    assert "Facial recognition report" in cold.stdout, cold.stdout + cold.stderr  # the alert, on the console
    # Creating the database runs the migrations, which do import the PostgreSQL dialect; only then.
    cold_loads = "LOADED ['sqlalchemy.dialects.postgresql', 'numpy'] 0"
    assert cold.stdout.strip().endswith(cold_loads), cold.stdout[-500:]
    assert warm.stdout.strip().endswith("LOADED [] 0"), warm.stdout[-500:] + warm.stderr
