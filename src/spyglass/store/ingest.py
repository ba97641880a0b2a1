"""Storing a batch of parsed stories: de-duplicate, cluster, index, and plan deliveries — atomically.

One transaction per source batch. Inside it, writers are serialized (SQLite: BEGIN IMMEDIATE;
PostgreSQL: an advisory transaction lock), so two workers can never both decide that two
near-duplicate stories each start a new cluster. Fetching and parsing happen outside the lock.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from spyglass.lazy import lazy_module
from spyglass.models import Match, Story
from spyglass.store.planning import Origin, Plan, plan_alerts, plan_replies
from spyglass.store.retention import tombstone_key
from spyglass.store.schema import Cluster, Delivery, StoryRow, StoryTopic
from spyglass.urls import article_of, same_outlet, same_story_url

# numpy (through dedupe) loads when the first story is stored: a poll where every feed answers 304
# never pays for it.
if TYPE_CHECKING:
    from spyglass import dedupe
else:
    dedupe = lazy_module("spyglass.dedupe")

_PG_INGEST_LOCK = 7_262_533_002
MAX_CANDIDATES = 64


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0  # same URL or GUID: already known
    clustered: int = 0  # near-duplicates that joined an existing cluster
    planned: int = 0  # delivery rows written
    # Why new stories (not joining a cluster) were not alerted: the poll summary explains zero alerts.
    off_topic: int = 0  # matched no topic or keyword
    too_old: int = 0  # matched, but older than max_age (or undated on a source's first poll)
    unrouted: int = 0  # matched and fresh, but no channel follows any of its topics
    unfollowed: Counter[str] = field(default_factory=Counter)  # those topics, by how many such stories
    past_retention: int = 0  # entries older than [storage] retention: not stored at all (set by the caller)


def lock_for_ingest(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INGEST_LOCK})


PER_BAND = 4 * MAX_CANDIDATES  # newest stories read per band key: bounded work, however large the history


def _band_members(conn: Session | Connection, keys: set[int]) -> dict[int, list[int]]:
    """The newest PER_BAND story ids of each band key that any stored story has: a few indexed
    queries for a whole batch (a backwards scan of the (band, story_id) key per band), so a common
    band key shared by thousands of old stories costs no more than a rare one."""
    members: dict[int, list[int]] = {}
    for band, story_id in _in_chunks(_raw(conn), _BAND_MEMBERS, sorted(keys)):
        members.setdefault(band, []).append(story_id)
    return members


def _raw(conn: Session | Connection) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _in_chunks(conn: Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    """The rows of ``sql`` (whose ``{}`` is an IN list) for all of ``values``, _KNOWN_CHUNK at a time.
    Plain SQL through the driver: these run a few times for every source of a poll, and SQLAlchemy's
    compiling and expanding of a 500-value IN cost more than SQLite's answer."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows: list[Any] = []
    for i in range(0, len(values), _KNOWN_CHUNK):
        chunk = tuple(values[i : i + _KNOWN_CHUNK])
        rows += conn.exec_driver_sql(sql.format(", ".join([mark] * len(chunk))), chunk).all()
    return rows


# Newest first within each band key (see _band_members); row_number() is in SQLite and PostgreSQL.
_BAND_MEMBERS = (
    "SELECT band, story_id FROM (SELECT band, story_id, row_number() OVER "
    "(PARTITION BY band ORDER BY story_id DESC) AS rn FROM lsh_bands WHERE band IN ({})) AS newest "
    f"WHERE rn <= {PER_BAND}"
)
_CANDIDATE_ROWS = "SELECT id, cluster_id, signature, published_at, provider_domain, url, title FROM stories WHERE id IN ({})"


@functools.cache
def _read_time(dialect: Dialect) -> Callable[[Any], datetime]:
    """How the driver's published_at becomes an aware datetime (SQLite hands back text)."""
    processor = StoryRow.__table__.c.published_at.type.dialect_impl(dialect).result_processor(dialect, None)
    return cast(Callable[[Any], datetime], processor or (lambda value: value))


_Candidate = tuple[int, bytes, datetime, str, str, str]  # cluster, signature, published, outlet, URL, title


class _History:
    """Near-duplicate candidates in the database for every story of a batch, read in a few queries
    for the whole batch rather than one per story. The batch's own stories are not in it (see
    _InBatch): nothing is written until the batch is decided."""

    def __init__(self, conn: Session | Connection, keys_of: dict[int, list[int]]) -> None:
        """``keys_of``: each story's band keys, by the story's place in the batch."""
        members = _band_members(conn, {k for keys in keys_of.values() for k in keys})
        # Per story: the stories sharing the most band keys with it, newest first, at most MAX_CANDIDATES.
        self._ranked: dict[int, list[int]] = {}
        for n, keys in keys_of.items():
            shared = Counter(sid for k in dict.fromkeys(keys) for sid in members.get(k, ()))
            self._ranked[n] = sorted(shared, key=lambda sid: (-shared[sid], -sid))[:MAX_CANDIDATES]
        self._rows: dict[int, _Candidate] = {}
        wanted = sorted({sid for ranked in self._ranked.values() for sid in ranked})
        raw = _raw(conn)
        when = _read_time(raw.dialect)
        for sid, cluster, sig, published, domain, url, title in _in_chunks(raw, _CANDIDATE_ROWS, wanted):
            self._rows[sid] = (cluster, bytes(sig), when(published), domain, url, title)

    def find(self, n: int, story: Story, sig: object) -> int | None:
        """The cluster of the most similar recent stored story to the batch's ``n``-th story."""
        window = timedelta(days=dedupe.WINDOW_DAYS)
        rows = [
            row
            for sid in sorted(self._ranked[n])  # id order: of equally similar stories, the oldest wins
            if (row := self._rows.get(sid)) is not None and abs(row[2] - story.published) <= window
        ]
        if not rows:
            return None
        sims = dedupe.similarities(sig, [r[1] for r in rows])  # type: ignore[arg-type]  # one numpy pass
        return _closest(
            story, [(c, p, d, u, t, sim) for (c, _blob, p, d, u, t), sim in zip(rows, sims, strict=True)]
        )


_CLUSTERS = cast(Table, Cluster.__table__)
_INSERT_CLUSTER = insert(_CLUSTERS)
_INSERT_STORY = insert(cast(Table, StoryRow.__table__))
_INSERT_TOPIC = insert(cast(Table, StoryTopic.__table__))
_INSERT_DELIVERY = insert(cast(Table, Delivery.__table__))
_KNOWN_CHUNK = 500


def _known_keys(
    conn: Connection, batch: Sequence[tuple[Story, Sequence[Match]]]
) -> tuple[set[str], set[str]]:
    """URLs and GUIDs of the batch that are already stored: two indexed IN queries, not two per story."""
    urls = list(dict.fromkeys(st.url for st, _ in batch))
    guids = list(dict.fromkeys(st.guid for st, _ in batch if st.guid))
    known_urls = {u for (u,) in _in_chunks(conn, "SELECT url FROM stories WHERE url IN ({})", urls)}
    known_guids = {g for (g,) in _in_chunks(conn, "SELECT guid FROM stories WHERE guid IN ({})", guids)}
    # A pruned story is known too: its tombstone keeps an old feed entry from coming back as new.
    hashed = {tombstone_key("url", u): ("url", u) for u in urls} | {
        tombstone_key("guid", g): ("guid", g) for g in guids
    }
    for (key,) in _in_chunks(conn, 'SELECT "key" FROM tombstones WHERE "key" IN ({})', list(hashed)):
        kind, value = hashed[key]
        (known_urls if kind == "url" else known_guids).add(value)
    return known_urls, known_guids


def find_cluster(conn: Session | Connection, story: Story, sig: object, keys: list[int]) -> int | None:
    """The cluster of the most similar recent stored story, if any is similar enough (one story's
    lookup; ingest looks up a whole batch at once)."""
    return _History(conn, {0: keys}).find(0, story, sig)


def _closest(
    story: Story, candidates: Sequence[tuple[int, datetime, str, str, str, float | None]]
) -> int | None:
    """The cluster a story joins among candidates (cluster, published, outlet domain, URL, title,
    similarity): the same article on another of its outlet's sites, or the same headline within
    dedupe.HEADLINE_DAYS, else the most similar near-duplicate in the window."""
    window = timedelta(days=dedupe.WINDOW_DAYS)
    headline_window = timedelta(days=dedupe.HEADLINE_DAYS)
    mine = dedupe.headline_of(story.title)
    best: tuple[float, int] | None = None
    for cluster_id, published, domain, url, title, sim in candidates:
        gap = abs(published - story.published)
        if gap > window:
            continue
        if same_story_url(url, story.url):  # one outlet's article on two of its sites: the same report
            return int(cluster_id)
        if mine is not None and gap <= headline_window and dedupe.headline_of(title) == mine:
            return int(cluster_id)
        site = same_outlet(domain, story.provider_domain)
        if sim is None or not dedupe.is_near_duplicate(sim, site):
            continue
        if site and dedupe.numbers_differ(title, story.title):  # one outlet's series, not a copy
            continue
        if site and gap > headline_window and dedupe.titles_differ(title, story.title):
            continue  # one outlet's stock excerpt (a file photo's caption) under another story
        if best is None or sim > best[0]:
            best = (sim, cluster_id)
    return best[1] if best else None


@dataclass
class _Pending:
    """A story of this batch, already decided but not yet written (rows go out in a few executemany)."""

    story: Story
    id: int
    cluster_id: int
    sig: Any
    row: dict[str, Any]


def ingest(
    session: Session,
    source_id: int | None,
    batch: Sequence[tuple[Story, Sequence[Match]]],
    *,
    plan: Plan,
    now: datetime,
    max_age: float,
    first_poll: bool = False,
    first_alerts: float | None = None,
    signatures: Sequence[tuple[Any, list[int]]] | None = None,
) -> IngestResult:
    """Store new stories of one source, cluster near-duplicates, and write the outbox rows.

    Writers are serialized (see lock_for_ingest), so ids can be handed out here and every row of the
    batch written with one executemany per table at the end, instead of several statements per story.
    Near-duplicates are looked up in the database (LSH bands) and among this batch's own stories.
    Everything stays in the caller's transaction. On a source's first poll, ``first_alerts`` (seconds)
    limits alerts to stories published that recently (0: none), so a new feed's backlog is stored
    and searchable but does not flood the channels. ``signatures``, when given, are each story's
    `dedupe.signed` (computed ahead, in another process).
    """
    lock_for_ingest(session)
    session.flush()  # whatever the caller added must be visible to the queries below
    conn = session.connection()
    result = IngestResult()
    known_urls, known_guids = _known_keys(conn, batch)
    next_story = _max_id(conn, "stories") + 1
    next_cluster = _max_id(conn, "clusters") + 1
    in_batch = _InBatch(len(batch))
    new_clusters: dict[int, dict[str, Any]] = {}
    grown: dict[int, int] = {}
    bands: list[tuple[int, int]] = []  # (band key, story id)
    topics: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    sigs = {
        i: signatures[i] if signatures is not None else dedupe.signed(story.title, story.summary, story.url)
        for i, (story, _) in enumerate(batch)
        if story.url not in known_urls and not (story.guid and story.guid in known_guids)
    }
    history = _History(conn, {i: keys for i, (_, keys) in sigs.items()})
    for i, (story, matches) in enumerate(batch):
        if story.url in known_urls or (story.guid and story.guid in known_guids):
            result.duplicates += 1
            continue
        known_urls.add(story.url)  # a repeat later in this batch is a duplicate too
        if story.guid:
            known_guids.add(story.guid)
        sig, keys = sigs[i]
        cluster_id = in_batch.find(story, sig) or history.find(i, story, sig)
        story_id, next_story = next_story, next_story + 1
        joined = cluster_id is not None
        if cluster_id is None:
            cluster_id, next_cluster = next_cluster, next_cluster + 1
            new_clusters[cluster_id] = {
                "id": cluster_id,
                "representative_id": story_id,
                "created_at": now,
                "size": 1,
            }
        elif cluster_id in new_clusters:
            new_clusters[cluster_id]["size"] += 1
        else:
            grown[cluster_id] = grown.get(cluster_id, 0) + 1
        row = _story_row(story, story_id, cluster_id, sig, matches, source_id, now)
        in_batch.add(_Pending(story, story_id, cluster_id, sig, row))
        bands.extend((k, story_id) for k in keys)
        topics.extend({"story_id": story_id, "slug": m.slug} for m in matches)
        result.stored += 1
        if joined:
            result.clustered += 1
            replies = plan_replies(
                conn, cluster_id, story_id, now, deliveries, plan, _origin(story, source_id)
            )
        else:
            window = first_alerts if first_poll else None
            replies = _plan_new(
                result,
                cluster_id,
                story,
                story_id,
                matches,
                plan,
                now,
                max_age,
                first_poll,
                window,
                source_id,
            )
        deliveries.extend(replies)
        result.planned += len(replies)
    _write(conn, new_clusters, [p.row for p in in_batch.pending], bands, topics, deliveries, grown)
    return result


def _story_row(
    story: Story,
    story_id: int,
    cluster_id: int,
    sig: Any,
    matches: Sequence[Match],
    source_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": story_id,
        "url": story.url,
        "original_url": story.original_url,
        "guid": story.guid or None,
        "title": story.title,
        "summary": story.summary,
        "published_at": story.published,
        "fetched_at": now,
        "provider": story.provider,
        "provider_domain": story.provider_domain,
        "image": story.image,
        "source_id": source_id,
        "cluster_id": cluster_id,
        "signature": dedupe.to_bytes(sig),
        "matches": {m.slug: list(m.phrases) for m in matches},
        "related": [{"title": r.title, "url": r.url, "provider": r.provider} for r in story.related],
    }


def _plan_new(
    result: IngestResult,
    cluster_id: int,
    story: Story,
    story_id: int,
    matches: Sequence[Match],
    plan: Plan,
    now: datetime,
    max_age: float,
    first_poll: bool,
    window: float | None,
    source_id: int | None,
) -> list[dict[str, Any]]:
    """Alerts for a story that starts a cluster, and why there are none when there are none."""
    # An undated story is "now" only in the sense of first seen: on a source's first poll it
    # may be years old, so only a source without an age limit alerts it then.
    fresh = max_age <= 0 or (
        story.published >= now - timedelta(seconds=max_age) and (story.dated or not first_poll)
    )
    if window is not None:  # a new source's backlog: stored and searchable, alerted only if this recent
        fresh = fresh and window > 0 and story.dated and story.published >= now - timedelta(seconds=window)
    replies = (
        plan_alerts(cluster_id, story_id, matches, plan, now, _origin(story, source_id))
        if fresh and matches
        else []
    )
    if not matches:
        result.off_topic += 1
    elif not fresh:
        result.too_old += 1
    elif not replies:
        result.unrouted += 1
        result.unfollowed.update(m.slug for m in matches)
    return replies


def _origin(story: Story, source_id: int | None) -> Origin:
    return Origin(source_id, story.provider, story.provider_domain)


def _write(
    conn: Connection,
    new_clusters: dict[int, dict[str, Any]],
    stories: list[dict[str, Any]],
    bands: list[tuple[int, int]],
    topics: list[dict[str, Any]],
    deliveries: list[dict[str, Any]],
    grown: dict[int, int],
) -> None:
    """One executemany per table, parents before children."""
    if new_clusters:
        conn.execute(_INSERT_CLUSTER, list(new_clusters.values()))
    if stories:
        conn.execute(_INSERT_STORY, stories)
        if bands:  # a story with too little text to compare has none
            # ~16 rows a story, two integers each, needing no type conversion: straight to the
            # driver, skipping SQLAlchemy's per-row parameter processing.
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                f"INSERT INTO lsh_bands (band, story_id) VALUES ({mark}, {mark})",
                bands,
            )
        if topics:
            conn.execute(_INSERT_TOPIC, topics)
        if conn.dialect.name == "postgresql":  # ids were handed out here: move the sequences past them
            for table in ("stories", "clusters"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
    if deliveries:
        conn.execute(_INSERT_DELIVERY, deliveries)
    if grown:
        conn.execute(
            update(_CLUSTERS)
            .where(_CLUSTERS.c.id == bindparam("cid"))
            .values(size=_CLUSTERS.c.size + bindparam("n")),
            [{"cid": c, "n": n} for c, n in grown.items()],
        )


def _max_id(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one())


class _InBatch:
    """The batch's stories so far (not in the database yet), as near-duplicate candidates. A story
    is compared with all of them in one numpy step, and only those that could be chosen (similar
    enough, or the same article URL) go on to `_closest`: comparing every pair of a 50-story feed
    one by one, URLs and all, was a tenth of a cold poll."""

    def __init__(self, size: int) -> None:
        self.pending: list[_Pending] = []
        self._sigs = dedupe.SignatureRows(size)
        self._articles: list[tuple[str, str, str] | None] = []
        self._headlines: list[str | None] = []

    def add(self, p: _Pending) -> None:
        self._sigs.add(p.sig)
        self.pending.append(p)
        self._articles.append(article_of(p.story.url))
        self._headlines.append(dedupe.headline_of(p.story.title))

    def find(self, story: Story, sig: Any) -> int | None:
        if not self.pending:
            return None
        comparable = dedupe.comparable(sig)
        lowest = min(dedupe.SAME_SITE_THRESHOLD, dedupe.CROSS_SITE_THRESHOLD)
        mine = article_of(story.url)
        headline = dedupe.headline_of(story.title)
        if not comparable and mine is None and headline is None:
            return None
        sims = self._sigs.similarities(sig) if comparable else [0.0] * len(self.pending)
        return _closest(
            story,
            [
                (p.cluster_id, p.story.published, p.story.provider_domain, p.story.url, p.story.title, sim)
                for p, sim, art, head in zip(self.pending, sims, self._articles, self._headlines, strict=True)
                if (comparable and sim >= lowest)
                or (mine is not None and art == mine)
                or (headline is not None and head == headline)
            ],
        )


def story_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StoryRow)) or 0
