"""The search query language and SQLite's FTS5 statements, without SQLAlchemy: `store/search.py`
runs them through the store, and `store/quicksearch.py` straight through sqlite3, so that
`spyglass search` on SQLite starts without importing the ORM.

Query language (what `/spyglass search` and `spyglass search` accept): words (all must match,
inflections fold via stemming), "quoted phrases", a trailing * for prefixes, `topic:SLUG` and
`since:7d`. Raw user input never reaches the FTS engine: every token is quoted, so `C++` or
`ANPR-equipped` cannot be a syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from spyglass.clock import now_utc
from spyglass.defaults import MAX_QUERY, MAX_QUERY_TERMS
from spyglass.durations import DurationError, parse_duration
from spyglass.errors import QueryError
from spyglass.models import HIT_END, HIT_START, SearchHit
from spyglass.topics.forms import spelling_variants

RANK_WINDOW = 500
_TOKEN = re.compile(r'(-?)(\w+):("[^"]*"|\S+)|"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.U)


@dataclass
class Query:
    terms: list[str] = field(default_factory=list)  # single words; "word*" marks a prefix
    phrases: list[list[str]] = field(default_factory=list)
    topic: str | None = None
    since: datetime | None = None

    @property
    def empty(self) -> bool:
        """No words: nothing to rank by (filters alone list the newest stories instead)."""
        return not self.terms and not self.phrases

    @property
    def filters_only(self) -> bool:
        return self.empty and (self.topic is not None or self.since is not None)


def parse_query(raw: str, *, now: datetime | None = None) -> Query:
    raw = (raw or "").strip()
    if len(raw) > MAX_QUERY:
        raise QueryError(f"that query is {len(raw)} characters; keep it under {MAX_QUERY}")
    now = now or now_utc()
    q = Query()
    for m in _TOKEN.finditer(raw):
        neg, key, value, phrase, bare = m.groups()
        if key is not None:
            k = key.lower()
            v = value.strip('"')
            if k == "topic":
                q.topic = v.lower()
            elif k == "since":
                try:
                    q.since = now - timedelta(seconds=parse_duration(v))
                except DurationError:
                    raise QueryError(
                        f"since:{v} is not understood; use e.g. since:24h, since:7d, since:4w, "
                        "since:3mo (at most 50y)"
                    ) from None
            else:  # "word:word" that is not a filter: search it as words
                q.terms.extend(w.lower() for w in _WORD.findall(m.group(0)))
            continue
        if phrase is not None:
            words = [w.lower() for w in _WORD.findall(phrase)]
            if len(words) == 1:
                q.terms.append(words[0])
            elif words:
                q.phrases.append(words)
            continue
        assert bare is not None
        prefix = bare.endswith("*")
        words = [w.lower() for w in _WORD.findall(bare)]
        if prefix and words and len(words[-1]) >= 2:
            words[-1] += "*"
        q.terms.extend(words)
    q.terms = list(dict.fromkeys(q.terms))[:MAX_QUERY_TERMS]
    q.phrases = q.phrases[:MAX_QUERY_TERMS]
    return q


# Words people use interchangeably in this field; stemming alone does not join them.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "facial": ("face",),
    "face": ("facial",),
    "faces": ("facial",),
    "licence": ("license",),
    "license": ("licence",),
    "anpr": ("alpr",),
    "alpr": ("anpr",),
    "cctv": ("camera",),
    "uav": ("drone",),
    "uavs": ("drone",),
    "drone": ("uav",),
    "bodycam": ("body",),
    "bodycams": ("body",),
    "stingray": ("imsi",),
    "imsi": ("stingray",),
}


def variants(word: str) -> list[str]:
    """The word, its other spellings (-ise/-ize, licence/license: the table topics use) and field synonyms."""
    if word.endswith("*"):
        return [word]
    out = [word, *sorted(spelling_variants(word) - {word})]
    out.extend(_SYNONYMS.get(word, ()))
    return list(dict.fromkeys(out))


def fts5_expr(q: Query, joiner: str) -> str:
    parts = []
    for t in q.terms:
        if t.endswith("*"):
            parts.append(f'"{t[:-1]}"*')
        else:
            alts = [f'"{v}"' for v in variants(t)]
            parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    parts.extend('"' + " ".join(p) + '"' for p in q.phrases)
    return f" {joiner} ".join(parts)


# `topic:` filters through the story_topics index (one row per story and topic it matched).
TOPIC_FILTER = "EXISTS (SELECT 1 FROM story_topics t WHERE t.story_id = {story} AND t.slug = :topic)"


def sqlite_statements(expr: str, q: Query, limit: int) -> tuple[str, str, dict[str, Any]]:
    """(window SQL, rank SQL, parameters) for one FTS5 expression; run the window first and pass
    its result as `lo` to the rank."""
    filters, params = [], {"expr": expr, "window": RANK_WINDOW, "limit": limit}
    if q.topic:
        filters.append(TOPIC_FILTER.format(story="s.id"))
        params["topic"] = q.topic
    if q.since:
        filters.append("s.published_at >= :since")
        params["since"] = q.since.strftime("%Y-%m-%d %H:%M:%S")
    where = (" AND " + " AND ".join(filters)) if filters else ""
    # 1. The window: the newest RANK_WINDOW matches. FTS5 walks its doclists by rowid, newest first,
    #    and stops at the window (CROSS JOIN keeps the FTS table as the outer loop when filtering).
    join = "CROSS JOIN stories s ON s.id = stories_fts.rowid" if filters else ""
    window_sql = f"""
        SELECT min(id) FROM (
            SELECT stories_fts.rowid AS id FROM stories_fts {join}
            WHERE stories_fts MATCH :expr {where}
            ORDER BY stories_fts.rowid DESC LIMIT :window)
    """
    # 2. bm25 on that window only. The window is exactly the matches (passing the filters) with
    #    rowid >= its oldest id, and a rowid range is a constraint FTS5 applies inside the index,
    #    so ranking never touches older matches (an IN (subquery) on rowid would scan them all).
    rank_sql = f"""
        SELECT s.id, s.title, s.original_url, s.provider, s.published_at,
               snippet(stories_fts, 1, char(2), char(3), '…', 24) AS snip,
               bm25(stories_fts, 4.0, 1.0) AS score
        FROM stories_fts CROSS JOIN stories s ON s.id = stories_fts.rowid
        WHERE stories_fts MATCH :expr AND stories_fts.rowid >= :lo {where}
        ORDER BY score LIMIT :limit
    """
    return window_sql, rank_sql, params


def pg_tsquery(q: Query, joiner: str) -> str:
    """The words as a to_tsquery() string: variants OR'd, phrases as <->, prefixes as :*."""
    parts = [t[:-1] + ":*" if t.endswith("*") else "(" + " | ".join(variants(t)) + ")" for t in q.terms]
    parts += ["(" + " <-> ".join(p) + ")" for p in q.phrases]
    return f" {joiner} ".join(parts)


def pg_statement(tsq: str, q: Query, limit: int) -> tuple[str, dict[str, Any]]:
    """(SQL, parameters) ranking the newest RANK_WINDOW tsvector matches, in the driver's own
    paramstyle (%(name)s), so the store and `store/quicksearch.py` run the very same statement."""
    filters, params = (
        [],
        {
            "tsq": tsq,
            "window": RANK_WINDOW,
            "limit": limit,
            "opts": f"StartSel={HIT_START}, StopSel={HIT_END}, MaxWords=30, MinWords=12",
        },
    )
    if q.topic:
        filters.append(TOPIC_FILTER.format(story="stories.id").replace(":topic", "%(topic)s"))
        params["topic"] = q.topic
    if q.since:
        filters.append("published_at >= %(since)s")
        params["since"] = q.since
    where = (" AND " + " AND ".join(filters)) if filters else ""
    # Words are plain \w+ tokens, so to_tsquery cannot fail on them; it stems them like the index.
    sql = f"""
        WITH query AS (SELECT to_tsquery('english', %(tsq)s) AS q),
        recent AS (
            SELECT id, search FROM stories, query WHERE search @@ query.q {where}
            ORDER BY id DESC LIMIT %(window)s
        ),
        top AS (
            SELECT recent.id, ts_rank_cd(recent.search, query.q) AS score FROM recent, query
            ORDER BY score DESC, recent.id DESC LIMIT %(limit)s
        )
        SELECT s.id, s.title, s.original_url, s.provider, s.published_at,
               ts_headline('english', s.summary, query.q, %(opts)s) AS snip, top.score
        FROM top JOIN stories s ON s.id = top.id, query
        ORDER BY top.score DESC, s.id DESC
    """
    return sql, params


def hit(
    sid: int, title: str, url: str, provider: str, published: object, snip: str | None, score: float
) -> SearchHit:
    if isinstance(published, str):
        published = datetime.fromisoformat(published)
    assert isinstance(published, datetime)
    if published.tzinfo is None:
        published = published.replace(tzinfo=timezone.utc)
    return SearchHit(
        story_id=sid,
        title=title,
        url=url,
        provider=provider or "",
        published=published,
        snippet=snip or "",
        score=score,
    )


def fold_clusters(
    hits: Sequence[SearchHit], cluster_of: Mapping[int, int], sizes: Mapping[int, int], limit: int
) -> list[SearchHit]:
    """Each cluster once, at its best-ranked hit, with "+ N other outlets": the same story from five
    outlets is one result, not five."""
    out: list[SearchHit] = []
    seen: set[int] = set()
    for h in hits:
        cluster = cluster_of.get(h.story_id)
        if cluster is None or cluster in seen:
            continue
        seen.add(cluster)
        out.append(replace(h, others=max(0, int(sizes.get(cluster, 1)) - 1)))
        if len(out) == limit:
            break
    return out
