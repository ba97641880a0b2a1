"""Seeded generators for the benchmark: news-like stories, RSS feeds, and large history databases.

Everything is deterministic for a given seed. The vocabulary mixes surveillance-technology terms
with ordinary news so that topic matching, de-duplication and full-text search see text that looks
like what the bot reads: most stories are ordinary news, a minority are about surveillance.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import sys  # noqa: E402
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.feedserver import FeedServer  # noqa: E402  (tests/support: the feed server the tests use)

CACHE_DIR = Path(os.environ.get("SPYGLASS_BENCH_CACHE", "/tmp/spyglass-bench"))
# Old enough never to be alerted (max_age), fixed so the data never depends on the day it is made.
EPOCH = datetime(2024, 3, 1, tzinfo=UTC)

SURVEILLANCE = [
    "facial recognition",
    "license plate reader",
    "automatic number plate recognition",
    "stingray",
    "cell site simulator",
    "predictive policing",
    "body camera",
    "CCTV",
    "drone",
    "spyware",
    "Pegasus",
    "NSO Group",
    "Clearview AI",
    "biometric",
    "geofence warrant",
    "Ring doorbell",
    "Flock Safety",
    "gunshot detection",
    "ShotSpotter",
    "data broker",
    "location data",
    "ALPR",
    "surveillance camera",
    "social media monitoring",
    "IMSI catcher",
    "keyword warrant",
    "face scanning",
    "iris scan",
    "voice recognition",
    "emotion recognition",
    "palantir",
    "fusion center",
    "real-time crime center",
]
SURV_NOUNS = [
    "police",
    "sheriff",
    "privacy",
    "surveillance",
    "warrant",
    "civil liberties",
    "FBI",
    "immigration agents",
    "footage",
    "algorithm",
    "tracking",
    "watchdog",
    "oversight",
]
ORDINARY = [
    "council",
    "budget",
    "school",
    "election",
    "mayor",
    "hospital",
    "football",
    "weather",
    "storm",
    "housing",
    "market",
    "inflation",
    "airport",
    "railway",
    "festival",
    "museum",
    "harbour",
    "bridge",
    "farmers",
    "tourism",
    "library",
    "university",
    "court",
    "tax",
    "energy",
    "climate",
    "river",
    "flood",
    "wildfire",
    "traffic",
    "bus",
    "pension",
    "nurses",
    "teachers",
    "strike",
    "minister",
    "parliament",
    "senate",
    "governor",
    "startup",
    "investors",
    "shares",
    "profits",
    "retail",
    "bakery",
    "concert",
    "theatre",
    "league",
    "coach",
    "season",
    "record",
    "village",
    "city",
    "county",
    "state",
]
VERBS = [
    "approves",
    "rejects",
    "expands",
    "bans",
    "pauses",
    "defends",
    "questions",
    "launches",
    "delays",
    "reviews",
    "funds",
    "cuts",
    "buys",
    "tests",
    "deploys",
    "sues",
    "warns",
    "probes",
    "announces",
    "scraps",
    "backs",
    "criticises",
    "investigates",
    "reveals",
]
FILLER = [
    "the",
    "a",
    "new",
    "local",
    "after",
    "over",
    "for",
    "in",
    "on",
    "with",
    "amid",
    "plan",
    "report",
    "officials",
    "residents",
    "said",
    "year",
    "week",
    "months",
    "million",
    "program",
    "public",
    "meeting",
    "data",
    "system",
    "contract",
    "vote",
    "rules",
    "groups",
    "critics",
    "according",
    "documents",
    "statement",
    "spokesperson",
    "hearing",
    "policy",
    "pilot",
    "use",
    "department",
    "agency",
    "company",
    "federal",
    "national",
    "regional",
    "early",
    "later",
]
PLACES = [
    "Springfield",
    "Riverton",
    "Lakeside",
    "Northgate",
    "Eastbrook",
    "Hillview",
    "Portmouth",
    "Westfield",
    "Oakridge",
    "Greenvale",
    "Stonebridge",
    "Fairhaven",
    "Kingsport",
    "Millbrook",
]
OUTLETS = [
    f"{a}{b}"
    for a in ("daily", "metro", "county", "tech", "civic", "wire", "evening", "press")
    for b in ("news", "herald", "post", "times", "ledger", "journal", "tribune", "observer")
]


@dataclass
class GenStory:
    title: str
    summary: str
    url: str
    guid: str
    domain: str
    published: datetime


def _sentence(rng: random.Random, surv: bool, n: int) -> list[str]:
    words: list[str] = []
    for _ in range(n):
        r = rng.random()
        if surv and r < 0.12:
            words.append(rng.choice(SURVEILLANCE))
        elif surv and r < 0.2:
            words.append(rng.choice(SURV_NOUNS))
        elif r < 0.45:
            words.append(rng.choice(ORDINARY))
        elif r < 0.55:
            words.append(rng.choice(VERBS))
        elif r < 0.6:
            words.append(rng.choice(PLACES))
        elif r < 0.65:
            words.append(str(rng.randint(2, 2000)))
        else:
            words.append(rng.choice(FILLER))
    return words


def make_story(
    rng: random.Random, i: int, *, surv_ratio: float = 0.25, when: datetime | None = None
) -> GenStory:
    """One story; about ``surv_ratio`` of them are about surveillance technology."""
    surv = rng.random() < surv_ratio
    subject = rng.choice(SURVEILLANCE) if surv else rng.choice(ORDINARY)
    title = f"{rng.choice(PLACES)} {rng.choice(ORDINARY)} {rng.choice(VERBS)} {subject} " + " ".join(
        _sentence(rng, surv, rng.randint(3, 7))
    )
    body = []
    for _ in range(rng.randint(2, 4)):
        s = _sentence(rng, surv, rng.randint(10, 20))
        body.append(" ".join(s).capitalize() + ".")
    domain = f"{rng.choice(OUTLETS)}.example"
    slug = hashlib.blake2b(f"{i}".encode(), digest_size=6).hexdigest()
    url = f"https://{domain}/news/{i}-{slug}"
    when = when or EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
    return GenStory(
        title=title[:1].upper() + title[1:],
        summary=" ".join(body),
        url=url,
        guid=url,
        domain=domain,
        published=when,
    )


def near_duplicate(rng: random.Random, st: GenStory, i: int) -> GenStory:
    """The same story syndicated by another outlet: new URL and headline tweak, body edited a little."""
    words = st.summary.split()
    for _ in range(max(1, len(words) // 25)):
        words[rng.randrange(len(words))] = rng.choice(FILLER)
    domain = f"{rng.choice(OUTLETS)}.example"
    url = f"https://{domain}/story/{i}"
    return GenStory(
        title=st.title + " - " + rng.choice(PLACES),
        summary=" ".join(words),
        url=url,
        guid=url,
        domain=domain,
        published=st.published + timedelta(minutes=rng.randint(1, 600)),
    )


def feed_items(n_feeds: int, per_feed: int, seed: int, dup_ratio: float = 0.10) -> list[list[GenStory]]:
    """Items of each feed: ~dup_ratio repeat a story of another feed (half exact URL, half near-dup)."""
    rng = random.Random(seed)
    feeds: list[list[GenStory]] = []
    pool: list[GenStory] = []
    n = 0
    for _ in range(n_feeds):
        items = []
        for _ in range(per_feed):
            r = rng.random()
            if pool and r < dup_ratio / 2:
                items.append(rng.choice(pool))
            elif pool and r < dup_ratio:
                n += 1
                items.append(near_duplicate(rng, rng.choice(pool), n))
            else:
                n += 1
                items.append(make_story(rng, n))
        pool.extend(items)
        feeds.append(items)
    return feeds


def rss(title: str, items: list[GenStory]) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://{escape(title)}.example/</link>",
        "<description>generated</description>",
    ]
    for it in items:
        out.append(
            f"<item><title>{escape(it.title)}</title><link>{escape(it.url)}</link>"
            f'<guid isPermaLink="true">{escape(it.guid)}</guid>'
            f"<pubDate>{format_datetime(it.published)}</pubDate>"
            f"<description>{escape('<p>' + escape(it.summary) + '</p>')}</description></item>"
        )
    out.append("</channel></rss>\n")
    return "".join(out).encode()


def make_feeds(n_feeds: int, per_feed: int, seed: int) -> list[bytes]:
    return [rss(f"feed{i}", items) for i, items in enumerate(feed_items(n_feeds, per_feed, seed))]


# --------------------------------------------------------------------------------------------------
# Large histories, loaded directly in bulk


LAST_MODIFIED = format_datetime(datetime.fromtimestamp(1_700_000_000, UTC), usegmt=True)


def feed_server(bodies: list[bytes], latency: float = 0.0) -> FeedServer:
    """The feeds at /feed/<i>.xml, each answering 304 to its ETag or Last-Modified, after ``latency``
    seconds (a stand-in for the network round trip). ``answered[200]``/``[304]`` count the replies."""
    srv = FeedServer()
    for i, body in enumerate(bodies):
        srv.route(
            feed_path(i),
            body,
            content_type="application/rss+xml; charset=utf-8",
            etag=f'"feed-{i}-v1"',
            last_modified=LAST_MODIFIED,
            delay=latency,
        )
    return srv


def feed_path(i: int) -> str:
    return f"/feed/{i}.xml"


def history_db(n: int, seed: int, log: Callable[[str], None] = print) -> Path:
    """A SQLite database of ``n`` stories (with clusters, LSH bands and the FTS index), cached by size, seed
    and schema revision."""
    from spyglass.store.migrate import head_revision

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # The schema revision is part of the key: a migration (e.g. a new FTS prefix index) means a new build.
    path = CACHE_DIR / f"history-{n}-{seed}-r{head_revision()}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    from spyglass.store.db import open_store

    open_store(f"sqlite:///{tmp}").dispose()  # the real schema, via the migrations
    _bulk_load(tmp, n, seed, log)
    tmp.rename(path)
    log(
        f"  built {path} ({n:,} stories, {path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.0f}s"
    )
    return path


def history_stories(n: int, seed: int) -> Iterator[tuple[int, GenStory]]:
    rng = random.Random(seed * 7919 + n)
    span = 24 * 60 * 400  # minutes: 400 days of history, ids increase with time
    for i in range(1, n + 1):
        when = EPOCH - timedelta(minutes=span * (n - i) // n)
        yield i, make_story(rng, 10_000_000 + i, when=when)


def _bulk_load(path: Path, n: int, seed: int, log: Callable[[str], None]) -> None:
    import numpy as np

    from spyglass import dedupe

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    trig = db.execute(
        "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='stories_fts_ai'"
    ).fetchone()[0]
    db.execute("DROP TRIGGER stories_fts_ai")
    fetched = EPOCH.strftime("%Y-%m-%d %H:%M:%S.%f")
    bands = np.empty((n, dedupe.BANDS), dtype=np.int64)
    chunk = 20_000
    db.execute("BEGIN")
    rows, clusters = [], []
    t0 = time.perf_counter()
    for i, st in history_stories(n, seed):
        sig = dedupe.signature(st.title, st.summary)
        bands[i - 1] = dedupe.band_keys(sig)
        pub = st.published.strftime("%Y-%m-%d %H:%M:%S.%f")
        clusters.append((i, i, fetched))
        rows.append(
            (
                i,
                st.url,
                st.url,
                st.guid,
                st.title,
                st.summary,
                pub,
                fetched,
                st.domain,
                st.domain,
                "",
                None,
                i,
                dedupe.to_bytes(sig),
                "{}",
                "[]",
            )
        )
        if len(rows) >= chunk:
            _flush(db, rows, clusters)
            if i % 200_000 == 0:
                log(f"    {i:,} stories ({time.perf_counter() - t0:.0f}s)")
    _flush(db, rows, clusters)
    db.execute("COMMIT")
    log(f"    stories loaded ({time.perf_counter() - t0:.0f}s); LSH bands…")
    flat = bands.ravel()
    ids = np.repeat(np.arange(1, n + 1, dtype=np.int64), dedupe.BANDS)
    order = np.lexsort((ids, flat))
    flat, ids = flat[order], ids[order]
    keep = np.ones(len(flat), dtype=bool)  # a story's identical band keys count once
    keep[1:] = (flat[1:] != flat[:-1]) | (ids[1:] != ids[:-1])
    flat, ids = flat[keep], ids[keep]
    db.execute("BEGIN")
    step = 500_000
    for a in range(0, len(flat), step):
        db.executemany(
            "INSERT INTO lsh_bands (band, story_id) VALUES (?, ?)",
            zip(flat[a : a + step].tolist(), ids[a : a + step].tolist(), strict=True),
        )
    db.execute("COMMIT")
    log(f"    bands loaded ({time.perf_counter() - t0:.0f}s); FTS index…")
    db.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")
    db.execute(trig)
    db.execute("ANALYZE")
    db.close()
    log(f"    FTS built ({time.perf_counter() - t0:.0f}s)")


def _flush(db: sqlite3.Connection, rows: list, clusters: list) -> None:
    db.executemany(
        "INSERT INTO clusters (id, representative_id, created_at, size) VALUES (?, ?, ?, 1)", clusters
    )
    db.executemany(
        "INSERT INTO stories (id, url, original_url, guid, title, summary, published_at, fetched_at, provider, "
        "provider_domain, image, source_id, cluster_id, signature, matches, related) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    rows.clear()
    clusters.clear()
