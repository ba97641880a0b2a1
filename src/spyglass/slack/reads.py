"""The `/spyglass` commands that only read: `topics`, `search`, `latest`, and the topic-name
lookups `subscribe` shares. Reads never wait for a writer (`Store.read()`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from spyglass.clock import now_utc
from spyglass.defaults import MAX_TOPICS_TEXT
from spyglass.delivery.blocks import build_search_results
from spyglass.delivery.mrkdwn import escape
from spyglass.errors import QueryError
from spyglass.models import Topic
from spyglass.service import Services
from spyglass.slack.reply import Reply, notice
from spyglass.store.search import Query, parse_query
from spyglass.store.search import search as run_search
from spyglass.topics import example_phrases
from spyglass.topics.names import resolve_topic, suggest_topics


def resolve_names(words: Sequence[str], topics: Sequence[Topic]) -> tuple[list[Topic], list[str]]:
    """Greedy longest match so labels of several words work: `face recognition drones`."""
    found: list[Topic] = []
    unknown: list[str] = []
    i = 0
    while i < len(words):
        for j in range(len(words), i, -1):
            t = resolve_topic(" ".join(words[i:j]), topics)
            if t:
                if t not in found:
                    found.append(t)
                i = j
                break
        else:
            unknown.append(words[i])
            i += 1
    return found, unknown


def unknown_message(unknown: list[str], topics: Sequence[Topic]) -> str:
    parts = []
    for name in unknown[:5]:
        close = suggest_topics(name, topics, n=3)
        hint = f" Did you mean {', '.join(f'`{t.slug}`' for t in close)}?" if close else ""
        parts.append(f"`{escape(name[:60])}` is not a topic.{hint}")
    parts.append(
        'See `/spyglass topics` for the list, or follow a keyword with `/spyglass subscribe "exact phrase"`.'
    )
    return "\n".join(parts)


def list_topics(svc: Services) -> Reply:
    lines = [f"*{len(svc.topics)} topics* (subscribe with the slug):"]
    for t in svc.topics:
        about = t.description or ", ".join(example_phrases(t, 5))
        lines.append(f"• `{escape(t.slug)}` *{escape(t.label)}* — {escape(about[:300])}")
    # build_notice splits this into sections of Slack's size.
    return notice("\n".join(lines)[:MAX_TOPICS_TEXT])


def search(svc: Services, rest: str) -> Reply:
    try:
        q = parse_query(rest)
    except QueryError as e:
        return notice(escape(str(e)))
    if q.empty and not q.filters_only:
        return notice(
            "Search for what? e.g. `/spyglass search facial recognition vans since:30d`, `topic:drones protest`, "
            "or just `topic:drones` for the latest."
        )
    if q.topic:
        topic = resolve_topic(q.topic, svc.topics)
        if topic is None:
            return notice(unknown_message([q.topic], svc.topics))
        q.topic = topic.slug
    hits = run_search(svc.search, svc.store, q, limit=10)
    return Reply(build_search_results(rest, hits, share=f"q:{rest}" if hits else None))


def latest(svc: Services, rest: str) -> Reply:
    """`/spyglass latest [TOPIC]`: the newest stories, of one topic if named."""
    names = rest.split()
    q = Query(since=now_utc() - timedelta(days=365 * 50))
    if names:
        topics, unknown = resolve_names(names, svc.topics)
        if unknown or len(topics) != 1:
            return notice(
                unknown_message(unknown, svc.topics)
                if unknown
                else "Name one topic, e.g. `/spyglass latest drones`."
            )
        q.topic = topics[0].slug
        label = f"latest {topics[0].label}"
    else:
        label = "latest"
    return Reply(build_search_results(label, run_search(svc.search, svc.store, q, limit=10)))
