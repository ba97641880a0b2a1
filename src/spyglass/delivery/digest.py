"""Digests: the stories a channel's digest mode held, sent as one message grouped by topic.

A digest is made once per channel and due time: one transaction inserts the `digests` row (its
unique (channel, due_at) key keeps a second worker, or a second run of `spyglass digest send`,
from making it again) and hands it every story waiting for it. It is then claimed with a lease,
posted, and marked sent with its ts, together with the stories it carried — the same at-least-once
rule as alerts (outbox.py). An empty digest is not sent: a quiet day makes no message.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from spyglass import defaults
from spyglass.clock import now_utc
from spyglass.delivery.outcomes import pause_subscriptions
from spyglass.delivery.posters import METADATA_TYPE, Poster, PostOutcome, Result
from spyglass.models import DigestLine
from spyglass.store.db import Store
from spyglass.store.schema import ChannelSettings, Delivery, Digest, StoryRow
from spyglass.store.timetables import timetable_of

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    made: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0  # to be tried again (an outage, a rate limit, a lost answer)
    deferred_why: str = ""
    stories: int = 0


def make_digests(
    store: Store, now: datetime, *, channel: str | None = None, force: bool = False
) -> DigestReport:
    """Make every digest that is due (a channel's next_digest_at has passed), and move that
    channel's schedule on. ``force`` (with ``channel``): make that channel's digest now, due or
    not, leaving its schedule alone."""
    report = DigestReport()
    with store.read() as s:
        q = select(ChannelSettings.channel_id, ChannelSettings.next_digest_at)
        if channel is not None:
            q = q.where(ChannelSettings.channel_id == channel)
        if not force:
            q = q.where(ChannelSettings.digest != "off", ChannelSettings.next_digest_at <= now)
        due = list(s.execute(q).all())
    for ch, next_at in due:
        due_at = now if force or next_at is None else next_at
        try:
            with store.session() as s:
                row = s.get(ChannelSettings, ch)
                if row is None:
                    continue
                if not force:
                    if row.next_digest_at is None or row.next_digest_at > now:
                        continue  # another worker moved it on meanwhile
                    row.next_digest_at = timetable_of(row).next_digest(now)
                waiting = select(Delivery.id).where(
                    Delivery.channel_id == ch, Delivery.status == "digest", Delivery.digest_id.is_(None)
                )
                ids = list(s.scalars(waiting))
                if not ids:
                    continue
                digest = Digest(channel_id=ch, due_at=due_at, status="pending", attempts=0, created_at=now)
                s.add(digest)
                s.flush()  # a second maker of the same (channel, due_at) fails here, changing nothing
                s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(digest_id=digest.id))
                report.made += 1
                report.stories += len(ids)
        except IntegrityError:
            log.info("digest for %s due %s was already made", ch, due_at)
    return report


def _claim(store: Store, owner: str, channel: str | None) -> list[int]:
    now = now_utc()
    with store.session() as s:
        q = select(Digest.id).where(
            Digest.status == "pending",
            or_(Digest.lease_until.is_(None), Digest.lease_until < now),
            or_(Digest.not_before.is_(None), Digest.not_before <= now),
        )
        if channel is not None:
            q = q.where(Digest.channel_id == channel)
        if store.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids = list(s.scalars(q.order_by(Digest.id).limit(50)))
        if not ids:
            return []
        s.execute(
            update(Digest)
            .where(Digest.id.in_(ids), Digest.status == "pending")
            .values(lease_owner=owner, lease_until=now + defaults.DELIVERY_LEASE)
        )
        return list(s.scalars(select(Digest.id).where(Digest.id.in_(ids), Digest.lease_owner == owner)))


def digest_lines(store: Store, digest_id: int) -> tuple[str, datetime | None, list[DigestLine]]:
    """(channel, when the previous digest there was due, one line per story cluster, newest first)."""
    with store.read() as s:
        digest = s.get(Digest, digest_id)
        assert digest is not None
        previous = s.scalar(
            select(Digest.due_at)
            .where(Digest.channel_id == digest.channel_id, Digest.id < digest_id, Digest.status == "sent")
            .order_by(Digest.id.desc())
            .limit(1)
        )
        rows = s.execute(
            select(Delivery.kind, Delivery.cluster_id, Delivery.topics, StoryRow)
            .join(StoryRow, StoryRow.id == Delivery.story_id)
            .where(Delivery.digest_id == digest_id)
            .order_by(Delivery.id)
        ).all()
        alerts: dict[int, DigestLine] = {}
        outlets: dict[int, list[str]] = defaultdict(list)
        for kind, cluster, topics, story in rows:
            if kind == "alert" and cluster not in alerts:
                alerts[cluster] = DigestLine(
                    title=story.title,
                    url=story.original_url,
                    published=story.published_at,
                    topics=tuple(topics or ()),
                    outlets=[],
                )
            outlets[cluster].append(story.provider or story.provider_domain)
        for cluster, line in alerts.items():
            line.outlets.extend(dict.fromkeys(o for o in outlets[cluster] if o))
        return digest.channel_id, previous, sorted(alerts.values(), key=lambda x: x.published, reverse=True)


def send_digests(store: Store, poster: Poster, owner: str, *, channel: str | None = None) -> DigestReport:
    """Post every made and unsent digest (of one channel, or all)."""
    report = DigestReport()
    while ids := _claim(store, owner, channel):
        for did in ids:
            _send_one(store, poster, did, report)
    return report


def digest_key(digest_id: int, channel: str) -> str:
    """Names a digest in its message's metadata, as `delivery_key` names an alert."""
    return f"digest-{digest_id}:{hashlib.sha256(channel.encode()).hexdigest()[:12]}"


def _send_one(store: Store, poster: Poster, did: int, report: DigestReport) -> None:
    ch, since, lines = digest_lines(store, did)
    key = digest_key(did, ch)
    with store.read() as s:
        unconfirmed = s.scalar(select(Digest.unconfirmed_at).where(Digest.id == did))
    # The last attempt got no answer: it may be in the channel. Look before posting again.
    found = poster.find(ch, key, None, unconfirmed.timestamp()).ts if unconfirmed else ""
    started = now_utc()
    if found:
        outcome = PostOutcome(Result.SENT, ts=found)
    else:  # Block Kit only when a digest is sent: every `poll --once` looks for due ones
        from spyglass.delivery.digest_blocks import build_digest

        message = build_digest(lines, since=since, now=started)
        message["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"delivery": key}}
        outcome = poster.post_message(ch, message)
    _record(store, did, ch, outcome, started, len(lines), report)


def _record(
    store: Store, did: int, ch: str, outcome: PostOutcome, started: datetime, n: int, report: DigestReport
) -> None:
    now = now_utc()
    with store.session() as s:
        digest = s.get(Digest, did)
        assert digest is not None
        digest.lease_owner = digest.lease_until = None
        digest.attempts += 1
        if outcome.result is Result.SENT:
            digest.status, digest.ts, digest.sent_at = "sent", outcome.ts, now
            digest.last_error = digest.unconfirmed_at = None
            s.execute(
                update(Delivery)
                .where(Delivery.digest_id == did)
                .values(status="sent", ts=outcome.ts, sent_at=now, lease_owner=None, lease_until=None)
            )
            report.sent += 1
            report.stories += n
            return
        digest.last_error = outcome.error
        if outcome.result is Result.CHANNEL_GONE:  # kept, like the channel's alerts: resume sends it
            digest.status = "held"
            pause_subscriptions(s, ch, outcome.error, now)
            report.failed += 1
            log.warning("digest %s for %s held: %s", did, ch, outcome.error)
        elif outcome.result is Result.REJECTED and digest.attempts >= defaults.MAX_ATTEMPTS:
            digest.status = "failed"
            report.failed += 1
            log.warning("digest %s for %s failed: %s", did, ch, outcome.error)
        else:  # an outage, a rate limit, a refused token, a lost answer: later
            if outcome.result is Result.LOST:  # the earliest unanswered attempt bounds the check's window
                digest.unconfirmed_at = digest.unconfirmed_at or started
            wait = outcome.retry_after or min(900.0, 30.0 * 2 ** min(digest.attempts, 5))
            digest.not_before = now + timedelta(seconds=wait)
            report.deferred += 1
            report.deferred_why = outcome.error
            log.warning("digest %s for %s: %s; trying again in %ds", did, ch, outcome.error, wait)
