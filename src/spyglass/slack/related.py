""" "More like this" on an alert, and "Share with the channel" on a private search answer.

More like this searches the history for the alert's first topic and the first phrase that fired
in it (`topic:face-recognition "live facial recognition"`), leaving out the alert's own story and
its copies; when nothing else shares the phrase, the topic's latest stories. A private answer
carries a Share button whose value says how to run the same search again, so sharing posts what
the history holds at that moment, with who shared it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from spyglass.delivery.blocks import build_search_results
from spyglass.errors import QueryError
from spyglass.models import SearchHit
from spyglass.service import Services
from spyglass.store.schema import Delivery, StoryRow
from spyglass.store.search import parse_query
from spyglass.store.search import search as run_search
from spyglass.topics import readable_phrase

NOT_FOUND = {
    "response_type": "ephemeral",
    "text": "That alert is no longer in Spyglass's history, so there is nothing to compare it with.",
}


def _alert(svc: Services, did: int, channel: str) -> tuple[list[str], list[int]] | None:
    """(the alert's search queries, best first; its cluster's story ids, to leave out)."""
    with svc.store.read() as s:
        d = s.get(Delivery, did)
        if d is None or d.channel_id != channel:
            return None
        own = list(s.scalars(select(StoryRow.id).where(StoryRow.cluster_id == d.cluster_id)))
        topics, reasons = list(d.topics or ()), list(d.reasons or ())
    slug_of = {t.label: t.slug for t in svc.topics}
    slug = next((slug_of[t] for t in topics if t in slug_of), None)
    phrase = next((readable_phrase(r).replace('"', "") for r in reasons if readable_phrase(r).strip()), "")
    queries = []
    if phrase:
        queries.append(f'topic:{slug} "{phrase}"' if slug else f'"{phrase}"')
    if slug:
        queries.append(f"topic:{slug}")
    return queries, own


def _run(svc: Services, raw: str, leave_out: list[int]) -> list[SearchHit]:
    try:
        q = parse_query(raw)
    except QueryError:
        return []
    return [h for h in run_search(svc.search, svc.store, q, limit=11) if h.story_id not in leave_out][:10]


def more_like_this(svc: Services, did: int, channel: str) -> dict[str, Any]:
    """The private answer to "More like this" on alert ``did``."""
    found = _alert(svc, did, channel)
    if found is None:
        return NOT_FOUND
    queries, own = found
    for raw in queries:
        hits = _run(svc, raw, own)
        if hits:
            return build_search_results(raw, hits, share=f"more:{did}")
    return build_search_results(queries[0] if queries else "", [])


def shared_search(svc: Services, value: str, user: str, channel: str) -> dict[str, Any]:
    """The channel post for a shared answer: the same search run again, saying who shared it."""
    kind, _, rest = value.partition(":")
    raw = rest
    leave_out: list[int] = []
    if kind == "more" and rest.isdigit():
        found = _alert(svc, int(rest), channel)
        if found is None:
            return NOT_FOUND
        queries, leave_out = found
        raw = next((r for r in queries if _run(svc, r, leave_out)), queries[0] if queries else "")
    elif kind != "q":
        return {"response_type": "ephemeral", "text": "That search can no longer be shared."}
    message = build_search_results(raw, _run(svc, raw, leave_out), shared_by=user)
    message["response_type"] = "in_channel"
    return message
