"""Feedback on alerts: who rated which alert how, and the report that shows an operator what to tune.

A rating is stored per person and alert (a second click replaces the first); the alert's delivery
row names the story, the channel, the topics and the phrases that fired, so the report can say
which phrases draw 👎. Nothing is ever deleted or hidden because of a rating.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from spyglass.clock import now_utc
from spyglass.delivery.console import clean
from spyglass.store.db import Store
from spyglass.store.schema import Delivery, Feedback
from spyglass.topics import readable_phrase


@dataclass(frozen=True)
class Tally:
    up: int
    down: int
    wrong: tuple[str, ...]  # topic labels people said were wrong


class NotAnAlert(Exception):
    """The button names no alert of this channel (deleted by retention, or another installation's)."""


def rate(
    store: Store, delivery_id: int, channel: str, user: str, value: int, wrong_topic: int | None = None
) -> Tally:
    """Record ``user``'s rating (+1 / -1; ``wrong_topic``: the index of the topic said to be wrong)."""
    now = now_utc()
    for _ in range(2):  # two clicks at once: the second insert fails and updates instead
        try:
            with store.session(quick=True) as s:
                d = s.get(Delivery, delivery_id)
                if d is None or d.channel_id != channel or d.kind != "alert":
                    raise NotAnAlert(delivery_id)
                topics = list(d.topics or ())
                wrong = (
                    topics[wrong_topic]
                    if wrong_topic is not None and 0 <= wrong_topic < len(topics)
                    else None
                )
                row = s.scalar(select(Feedback).where(Feedback.delivery_id == d.id, Feedback.user_id == user))
                if row is None:
                    row = Feedback(delivery_id=d.id, story_id=d.story_id, channel_id=channel, user_id=user)
                    s.add(row)
                row.value, row.wrong_topic, row.created_at = value, wrong, now
            break
        except IntegrityError:
            continue
    return tally(store, delivery_id)


def tally(store: Store, delivery_id: int) -> Tally:
    with store.read() as s:
        rows = s.execute(
            select(Feedback.value, Feedback.wrong_topic).where(Feedback.delivery_id == delivery_id)
        ).all()
    return Tally(
        up=sum(1 for v, _ in rows if v > 0),
        down=sum(1 for v, _ in rows if v < 0),
        wrong=tuple(w for _, w in rows if w),
    )


@dataclass
class Line:
    alerts: int = 0
    rated: int = 0
    up: int = 0
    down: int = 0
    wrong: int = 0

    @property
    def down_rate(self) -> float:
        return self.down / self.rated if self.rated else 0.0


@dataclass
class Report:
    since: datetime
    topics: dict[str, Line] = field(default_factory=dict)
    phrases: dict[str, Line] = field(default_factory=dict)


def report(store: Store, since: datetime) -> Report:
    """Alerts sent since ``since``, per topic and per phrase that fired, with their ratings."""
    out = Report(since=since)
    with store.read() as s:
        alerts = s.execute(
            select(Delivery.id, Delivery.topics, Delivery.reasons).where(
                Delivery.kind == "alert", Delivery.status == "sent", Delivery.sent_at >= since
            )
        ).all()
        ratings = s.execute(
            select(Feedback.delivery_id, Feedback.value, Feedback.wrong_topic)
            .join(Delivery, Delivery.id == Feedback.delivery_id)
            .where(Delivery.sent_at >= since)
        ).all()
    by_alert: dict[int, list[tuple[int, str | None]]] = {}
    for did, value, wrong in ratings:
        by_alert.setdefault(did, []).append((value, wrong))
    for did, topics, reasons in alerts:
        votes = by_alert.get(did, [])
        wrong_topics = Counter(w for _, w in votes if w)
        # Phrases are as the story wrote them ("Live Facial Recognition"): one line per phrase, any case.
        keys = [("topic", t) for t in topics or ()] + [
            ("phrase", clean(readable_phrase(p)).lower()) for p in reasons or ()
        ]
        for kind, key in dict.fromkeys(keys):
            line = (out.topics if kind == "topic" else out.phrases).setdefault(key, Line())
            line.alerts += 1
            line.rated += len(votes)
            line.up += sum(1 for v, _ in votes if v > 0)
            line.down += sum(1 for v, _ in votes if v < 0)
            line.wrong += wrong_topics.get(key, 0) if kind == "topic" else 0
    return out


def render(rep: Report, worst: int = 10) -> str:
    """The report as a terminal table: topics by alerts, then the phrases with the most 👎."""
    lines = [f"Feedback on alerts sent since {rep.since:%Y-%m-%d %H:%M} UTC"]
    if not rep.topics:
        return lines[0] + ": no alerts were sent."
    lines.append(
        f"{'topic':<34} {'alerts':>6} {'rated':>6} {'👍':>4} {'👎':>4} {'👎 rate':>8} {'wrong topic':>11}"
    )
    for name, line in sorted(rep.topics.items(), key=lambda kv: (-kv[1].alerts, kv[0])):
        lines.append(
            f"{clean(name)[:34]:<34} {line.alerts:>6} {line.rated:>6} {line.up:>4} {line.down:>4} "
            f"{line.down_rate:>8.0%} {line.wrong:>11}"
        )
    bad = [(p, line) for p, line in rep.phrases.items() if line.down]
    lines.append("")
    if not bad:
        lines.append("No phrase drew a 👎.")
        return "\n".join(lines)
    lines.append(f"Worst phrases (most 👎, then highest 👎 rate; at most {worst}):")
    lines.append(f"{'phrase':<40} {'alerts':>6} {'rated':>6} {'👎':>4} {'👎 rate':>8}")
    for phrase, line in sorted(bad, key=lambda kv: (-kv[1].down, -kv[1].down_rate, kv[0]))[:worst]:
        lines.append(
            f"{phrase[:40]:<40} {line.alerts:>6} {line.rated:>6} {line.down:>4} {line.down_rate:>8.0%}"
        )
    return "\n".join(lines)
