"""Real-feed traps through the whole process: `spyglass poll --once` against feeds served on 127.0.0.1,
alerts on the console (no Slack token), one catch-all topic so every story is a candidate."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support.feedserver import FeedServer

TRAPS = Path(__file__).parent / "fixtures" / "feeds" / "traps"


def recent(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def write_config(tmp: Path, sources: list[tuple[str, str]]) -> Path:
    lines = [
        f'[storage]\nurl = "sqlite:///{tmp / "spyglass.db"}"\n',
        '[[topics.custom]]\nslug = "everything"\nlabel = "Everything"\n'
        'phrases = ["the", "a", "of", "to", "in", "and", "for", "on", "police", "cameras", "drones"]\n',
    ]
    for name, url in sources:
        lines.append(f'[[sources]]\nname = "{name}"\nurl = "{url}"\n')
    cfg = tmp / "spyglass.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def poll(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), *extra, "poll", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cfg.parent,
    )


def test_years_old_and_undated_stories_are_not_alerted_as_new(tmp_path: Path) -> None:
    with FeedServer() as srv:
        for name in ("dates.xml", "offset.atom", "self_closing.xml", "google_news.xml"):
            srv.route(f"/{name}", (TRAPS / name).read_bytes(), content_type="application/xml")
        cfg = write_config(
            tmp_path,
            [
                (n, srv.url(f"/{n}"))
                for n in ("dates.xml", "offset.atom", "self_closing.xml", "google_news.xml")
            ],
        )
        first = poll(cfg)
    assert first.returncode == 0, first.stderr
    # 6 + 1 + 4 + 2 entries, none alerted: every date is years old or unreadable. The years-old ones
    # are past [storage] retention (365d), so they are not even stored; the undated one is, unalerted.
    assert "13 entries read" in first.stderr and "1 new story" in first.stderr, first.stderr
    assert "12 older than [storage] retention (365d), not stored" in first.stderr, first.stderr
    assert "0 alert(s) delivered" in first.stderr
    assert "No date anyone can read" not in first.stdout
    assert "without a readable date" in first.stderr and "sometime last week" in first.stderr


def test_a_google_alert_and_the_outlets_own_feed_are_one_story(tmp_path: Path) -> None:
    story = "https://www.northern.example.co.uk/news/lfr-vans/"
    outlet = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>The Northern Echo</title>'
        f"<link>https://www.northern.example.co.uk/</link><item><title>Police expand live facial "
        f"recognition vans</title><link>{story}?utm_source=rss&amp;utm_medium=feed</link>"
        f"<description>Officers will use facial recognition cameras in three towns and cities.</description>"
        f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(time.time() - 600))}</pubDate>"
        f"</item></channel></rss>"
    )
    alert = (TRAPS / "google_alerts.atom").read_text().replace("2024-03-05T09:40:00Z", recent(300))
    with FeedServer() as srv:
        srv.route("/outlet.xml", outlet, content_type="application/rss+xml")
        srv.route("/alerts.atom", alert, content_type="application/atom+xml")
        cfg = write_config(tmp_path, [("Outlet", srv.url("/outlet.xml")), ("Alert", srv.url("/alerts.atom"))])
        out = poll(cfg)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Police expand live facial recognition vans") == 1, out.stdout
    assert "google.com/url" not in out.stdout  # the alert links the story itself
    assert story.rstrip("/") in out.stdout


def test_sources_shows_what_the_last_poll_read_and_skipped(tmp_path: Path) -> None:
    with FeedServer() as srv:
        srv.route("/file.xml", (TRAPS / "relative_file.xml").read_bytes(), content_type="application/xml")
        cfg = write_config(tmp_path, [("Saved", srv.url("/file.xml"))])
        polled = poll(cfg)
        assert polled.returncode == 0, polled.stderr
        assert "3 entries read (3 skipped" in polled.stderr
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    shown = subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), "sources"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    # Its one good entry is from 2024, past the default retention: skipped too, and said so.
    assert "last read: 3 seen, 0 new, 3 skipped (most: " in shown.stdout, shown.stdout
