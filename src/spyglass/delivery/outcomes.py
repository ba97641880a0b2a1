"""What the outbox writes when a post did not go through: a channel that cannot be posted to is
held (its subscriptions paused, nothing lost), and a failed post is retried later or, past its
patience, marked failed. Each runs in the caller's transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from spyglass.defaults import MAX_ATTEMPTS, OUTAGE_PATIENCE
from spyglass.delivery.posters import PostOutcome
from spyglass.store.schema import Delivery, Subscription

log = logging.getLogger(__name__)


def hold_channel(
    s: Session, d: Delivery, channel: str, error: str, now: datetime
) -> list[tuple[str, str, str]]:
    """The channel cannot be posted to: pause its subscriptions and hold its queue (nothing is
    lost; `/spyglass resume` releases it). Returns the notes for whoever subscribed."""
    d.status = "held"
    subscribers = pause_subscriptions(s, channel, error, now)
    # Everything else queued for this channel waits with it instead of failing one by one.
    s.execute(
        update(Delivery)
        .where(Delivery.channel_id == channel, Delivery.status == "pending", Delivery.id != d.id)
        .values(status="held", last_error=error, lease_owner=None, lease_until=None)
    )
    log.warning("channel %s: %s; its subscriptions are paused", channel, error)
    return [(u, channel, error) for u in sorted(subscribers) if u]


def pause_subscriptions(s: Session, channel: str, error: str, now: datetime) -> set[str]:
    """Pause the channel's active subscriptions with the reason; returns who made them (they hear
    of it once, when the channel is first paused)."""
    active = (Subscription.channel_id == channel, Subscription.paused_reason.is_(None))
    subscribers = set(s.scalars(select(Subscription.created_by).where(*active)))
    s.execute(
        update(Subscription).where(*active).values(paused_reason=f"{error} (since {now:%Y-%m-%d %H:%M} UTC)")
    )
    return subscribers


def retry_later(d: Delivery, outcome: PostOutcome, now: datetime) -> bool:
    """A message Slack refuses fails after MAX_ATTEMPTS; an outage (network, 5xx, 429) is waited
    out for up to OUTAGE_PATIENCE, so a long Slack outage delays alerts instead of losing them.
    Returns True when the row failed for good."""
    created = d.created_at or now
    if (d.attempts >= MAX_ATTEMPTS and not outcome.transient) or now - created > OUTAGE_PATIENCE:
        d.status = "failed"
        return True
    cap = 900.0 if outcome.transient else 3600.0
    backoff = outcome.retry_after if outcome.retry_after else min(cap, 5.0 * 2 ** min(d.attempts, 20))
    d.not_before = now + timedelta(seconds=backoff)
    return False
