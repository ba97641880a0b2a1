"""The README's two pictures, from real news through the real product:

    git clone https://github.com/rumca-js/RSS-Link-Database-2022 /tmp/rldb-2022
    python docs/pictures.py --archive /tmp/rldb-2022 --until 2022-08-31 --weeks 26

It writes the public archive's stories of those weeks (real outlets' titles, excerpts and dates,
from the monthly zips of per-feed JSON; the bookmark archive rumca-js/RSS-Link-Database works
too) as front-matter stories into a temporary folder, runs `spyglass poll --once` over them
(console mode, a temporary SQLite file), then:

- docs/trends.png: `spyglass trends --until DAY --weeks N --out …`, the same chart
  `/spyglass trends` posts;
- docs/alert.png: the Block Kit JSON Spyglass would post for one of those stories (one with
  related coverage), drawn by a small HTML approximation of Slack's look and photographed by
  headless Chromium (Debian's `chromium`). It is not a screenshot of Slack.

Nothing here is needed to run or test Spyglass.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parent
_TAG = re.compile(r"<[^>]+>")


def archive_entries(archive: Path) -> Iterator[dict[str, Any]]:
    """Entries of a rumca-js archive: monthly zips of per-feed JSON, or yearly bookmark files."""
    for zpath in sorted(archive.glob("*/*.zip")):
        with zipfile.ZipFile(zpath) as z:
            for name in z.namelist():
                if name.endswith("_entries.json") and "youtube" not in name:
                    try:
                        entries = json.load(io.TextIOWrapper(z.open(name), encoding="utf-8"))
                    except ValueError:
                        continue
                    yield from entries if isinstance(entries, list) else []
    for path in sorted(archive.glob("*/bookmarks_entries.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        yield from data if isinstance(data, list) else data.get("links", [])


def write_stories(archive: Path, since: datetime, until: datetime, folder: Path) -> int:
    n = 0
    seen: set[str] = set()
    for e in archive_entries(archive):
        url, title = e.get("link") or "", html.unescape(e.get("title") or "")
        try:
            when = datetime.fromisoformat(str(e.get("date_published") or ""))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if not url.startswith("http") or not title or url in seen or not since <= when <= until:
            continue
        seen.add(url)
        meta = {
            "title": title,
            "excerpt": " ".join(html.unescape(_TAG.sub(" ", e.get("description") or "")).split())[:1200],
            "publishedDateTime": when.isoformat(),
            "webUrl": url,
            "provider": {"name": re.sub(r"^www\.", "", url.split("/")[2])},
        }
        (folder / f"{n:06d}.md").write_text(
            "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n", encoding="utf-8"
        )
        n += 1
    return n


def spyglass(cfg: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(cfg), *args], check=True, stdout=subprocess.DEVNULL
    )


def alert_blocks(cfg: Path) -> dict[str, Any]:
    """The message the outbox would post for the console's alert with the most related coverage."""
    from sqlalchemy import func, select

    from spyglass.config import load_settings
    from spyglass.delivery.blocks import build_alert
    from spyglass.delivery.view import alert_view
    from spyglass.service import build_services
    from spyglass.store.schema import Cluster, Delivery, StoryRow

    svc = build_services(load_settings(cfg))
    with svc.store.read() as s:
        d = s.scalars(
            select(Delivery)
            .join(Cluster, Cluster.id == Delivery.cluster_id)
            .join(StoryRow, StoryRow.id == Delivery.story_id)
            .where(Delivery.kind == "alert", func.length(StoryRow.summary) > 200)
            .order_by(Cluster.size.desc(), Delivery.id.desc())
            .limit(1)
        ).one()
        story = s.get(StoryRow, d.story_id)
        assert story is not None
        return build_alert(alert_view(s, d, story))


def _mrkdwn(text: str) -> str:
    """Enough of Slack's mrkdwn for a picture: links, date tokens (their fallback), bold, newlines."""
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]*)>", r'<a href="\1">\2</a>', text)
    text = re.sub(r"<#(C\w+)>", r'<span class="chan">#channel</span>', text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    return text.replace("\n", "<br>")


def render(message: dict[str, Any]) -> str:
    parts = []
    for b in message["blocks"]:
        if b["type"] == "section":
            img = '<div class="thumb"></div>' if (b.get("accessory") or {}).get("type") == "image" else ""
            parts.append(f'<div class="section">{img}<div>{_mrkdwn(b["text"]["text"])}</div></div>')
        elif b["type"] == "context":
            parts.append(f'<div class="context">{" ".join(_mrkdwn(e["text"]) for e in b["elements"])}</div>')
        elif b["type"] == "actions":
            buttons = []
            for e in b["elements"]:
                label = "⋯" if e["type"] == "overflow" else html.escape(e["text"]["text"])
                buttons.append(f'<span class="button">{label}</span>')
            parts.append(f'<div class="actions">{"".join(buttons)}</div>')
    return (
        "<html><head><meta charset='utf-8'><style>"
        "body{font:15px/1.46 Lato,'Helvetica Neue',Arial,sans-serif;color:#1d1c1d;margin:0;padding:16px 20px;width:720px}"
        ".msg{display:flex;gap:10px}.avatar{width:36px;height:36px;border-radius:6px;background:#1d2b3a;color:#fff;"
        "font-weight:bold;display:flex;align-items:center;justify-content:center}.name{font-weight:900}"
        ".app{font-size:10px;background:#ddd;border-radius:2px;padding:0 3px;margin-left:4px;color:#555}"
        ".time{color:#616061;font-size:12px;margin-left:6px}a{color:#1264a3;text-decoration:none}"
        ".section{display:flex;justify-content:space-between;gap:12px;margin:4px 0}"
        ".thumb{order:2;flex:0 0 72px;height:72px;border-radius:6px;background:linear-gradient(135deg,#c9d3dd,#8fa3b5)}"
        ".context{color:#616061;font-size:13px;margin:4px 0}.actions{margin:8px 0;display:flex;gap:8px}"
        ".button{border:1px solid #bbb;border-radius:4px;padding:3px 12px;font-weight:bold;font-size:13px}"
        "</style></head><body><div class='msg'><div class='avatar'>S</div><div style='flex:1'>"
        "<div><span class='name'>Spyglass</span><span class='app'>APP</span><span class='time'>09:12</span></div>"
        + "".join(parts)
        + "</div></div></body></html>"
    )


def photograph(page: Path, out: Path, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit(
            "docs/pictures.py: needs Debian's chromium for the alert picture (apt-get install chromium)"
        )
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--window-size=760,{height}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive", type=Path, required=True, help="a clone of a rumca-js RSS-Link-Database")
    ap.add_argument("--until", default="2022-08-31", help="the last day of the chart (YYYY-MM-DD)")
    ap.add_argument("--weeks", type=int, default=26)
    ap.add_argument("--height", type=int, default=240, help="the alert picture's height in pixels")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "stories").mkdir()
        until = datetime.combine(date.fromisoformat(args.until), time.max, tzinfo=UTC)
        n = write_stories(args.archive, until - timedelta(weeks=args.weeks + 1), until, work / "stories")
        cfg = work / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{work}/sg.db"\n'
            f'[[sources]]\nname = "Archive"\npath = "stories"\nmax_age = "0"\n'
        )
        for _ in range(n // 10_000 + 1):  # a folder source reads at most 10,000 files per poll
            spyglass(cfg, "poll", "--once")
        spyglass(
            cfg,
            "trends",
            "--until",
            args.until,
            "--weeks",
            str(args.weeks),
            "--out",
            str(DOCS / "trends.png"),
        )
        page = work / "alert.html"
        page.write_text(render(alert_blocks(cfg)), encoding="utf-8")
        photograph(page, DOCS / "alert.png", args.height)
    print(
        f"docs/pictures.py: {n} stories up to {args.until}; wrote docs/trends.png and docs/alert.png",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
