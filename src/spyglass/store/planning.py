"""Who gets a story: the outbox rows one new story makes. A story that starts a cluster is an
alert in every channel following one of its topics (one row per channel, with the topics and
phrases that routed it there); a later copy of a story already alerted is a thread reply where the
alert went. Pure apart from the one lookup of where a cluster was alerted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from spyglass.models import Match
from spyglass.schedule import Timetable
from spyglass.store.schema import Delivery
from spyglass.text import fold

CONSOLE_CHANNEL = "console"  # no Slack token: the console's own queue, with the same once-per-story rules


@dataclass(frozen=True)
class Route:
    """A subscription, reduced to what planning needs: where, and how to name the topic there."""

    channel_id: str
    label: str


@dataclass(frozen=True)
class Origin:
    """Where a story came from, as a channel's source choice and mutes see it."""

    source_id: int | None
    provider: str
    domain: str


@dataclass(frozen=True)
class ChannelFilter:
    """A channel's choice: only some sources (`/spyglass sources only …`), and muted outlets."""

    sources: frozenset[int] | None = None  # None: every source
    muted: frozenset[str] = frozenset()  # domains (subdomains included) or outlet names, folded

    def allows(self, origin: Origin) -> bool:
        if self.sources is not None and origin.source_id not in self.sources:
            return False
        if not self.muted:
            return True
        domain, name = origin.domain.lower(), fold(origin.provider).strip()
        return not any(domain == m or domain.endswith("." + m) or name == m for m in self.muted)


@dataclass
class Plan:
    """Who wants what: subscription key (topic slug or keyword slug) → channels."""

    routes: dict[str, list[Route]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # slug → label, for the console channel
    console: bool = False  # no Slack: every matched story goes to the console channel
    filters: dict[str, ChannelFilter] = field(default_factory=dict)  # channel → its choice, when it made one
    timetables: dict[str, Timetable] = field(default_factory=dict)  # channels with a digest or quiet hours

    def allows(self, channel: str, origin: Origin) -> bool:
        f = self.filters.get(channel)
        return f is None or f.allows(origin)

    def when(self, channel: str, now: datetime) -> tuple[str, datetime | None]:
        """(status, not_before) of a new row for ``channel``: waiting for its digest, held until its
        quiet hours end, or due now."""
        tt = self.timetables.get(channel)
        if tt is None:
            return "pending", None
        if tt.digest != "off":
            return "digest", None
        return "pending", tt.quiet_until(now)


def concise(phrases: Sequence[str]) -> list[str]:
    """The phrases worth showing as "why it matched": a phrase inside a longer one that also fired
    ("plate recognition" in "number plate recognition", "numberplate recognition") says nothing new."""
    keys = [re.sub(r"[\W_]+", "", fold(p)) for p in phrases]
    return [
        p
        for i, p in enumerate(phrases)
        if not any(j != i and keys[i] in keys[j] and (keys[i] != keys[j] or j < i) for j in range(len(keys)))
    ]


def plan_alerts(
    cluster_id: int, story_id: int, matches: Sequence[Match], plan: Plan, now: datetime, origin: Origin
) -> list[dict[str, Any]]:
    per_channel: dict[str, tuple[list[str], list[str]]] = {}
    for m in matches:
        routes = list(plan.routes.get(m.slug, ()))
        if plan.console and not m.slug.startswith("kw:"):
            routes.append(Route(CONSOLE_CHANNEL, plan.labels.get(m.slug, m.slug)))
        for route in routes:
            if not plan.allows(route.channel_id, origin):
                continue
            labels, reasons = per_channel.setdefault(route.channel_id, ([], []))
            if route.label not in labels:
                labels.append(route.label)
            reasons.extend(p for p in m.phrases if p not in reasons)
    return [
        {
            "channel_id": channel,
            "cluster_id": cluster_id,
            "story_id": story_id,
            "kind": "alert",
            "status": status,
            "not_before": not_before,
            "topics": labels,
            "reasons": concise(reasons),
            "attempts": 0,
            "created_at": now,
        }
        for channel, (labels, reasons) in per_channel.items()
        for status, not_before in [plan.when(channel, now)]
    ]


# Built once: a cold poll asks this for every story that joins a cluster, and building the
# statement each time cost more than running it.
_ALERTED = select(Delivery.channel_id, Delivery.status, Delivery.digest_id).where(
    Delivery.cluster_id == bindparam("cluster"),
    Delivery.kind == "alert",
    Delivery.status.in_(("pending", "sent", "digest")),
)


def plan_replies(
    conn: Connection,
    cluster_id: int,
    story_id: int,
    now: datetime,
    planned: Sequence[dict[str, Any]],
    plan: Plan,
    origin: Origin,
) -> list[dict[str, Any]]:
    """A later duplicate never makes a new alert; where the story was alerted, it becomes a thread
    reply. Where the alert still waits for the channel's digest, the copy waits with it (the digest
    lists its outlet); where the alert went out in a digest, there is no thread to reply in."""
    alerted = conn.execute(_ALERTED, {"cluster": cluster_id}).all()
    status_of: dict[str, str] = {}
    for channel, status, digest_id in alerted:
        if digest_id is None or status == "digest":
            status_of.setdefault(channel, status)
    for d in planned:
        if d["cluster_id"] == cluster_id and d["kind"] == "alert":
            status_of.setdefault(d["channel_id"], d["status"])
    rows = []
    for channel, alert_status in status_of.items():
        if not plan.allows(channel, origin):  # a muted outlet stays muted in threads too
            continue
        status, not_before = ("digest", None) if alert_status == "digest" else plan.when(channel, now)
        if status == "digest" and alert_status != "digest":
            status, not_before = "pending", None  # alerted singly before the channel took digests
        rows.append(
            {
                "channel_id": channel,
                "cluster_id": cluster_id,
                "story_id": story_id,
                "kind": "reply",
                "status": status,
                "not_before": not_before,
                "topics": [],
                "reasons": [],
                "attempts": 0,
                "created_at": now,
            }
        )
    return rows
