"""A delivery row and its story, read into the `AlertView` the message builders and the console take."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from spyglass.defaults import MAX_RELATED
from spyglass.models import AlertView, RelatedLink
from spyglass.store.schema import Delivery, StoryRow
from spyglass.urls import same_outlet


def alert_view(s: Session, d: Delivery, story: StoryRow, *, alone: bool = False) -> AlertView:
    """What one delivery shows: the story, the topics and phrases that routed it to this channel, and
    the related coverage (other outlets in its cluster, unless they get their own thread reply).
    ``alone``: the caller knows the story is its cluster's only one (nothing to look up)."""
    related = [RelatedLink(r["title"], r["url"], r.get("provider", "")) for r in story.related or []]
    update = False
    if d.kind == "alert" and not alone:  # other outlets already in the cluster are related coverage too
        threaded = select(Delivery.story_id).where(  # ...unless they get their own thread reply here
            Delivery.cluster_id == d.cluster_id,
            Delivery.channel_id == d.channel_id,
            Delivery.kind == "reply",
        )
        others = s.execute(
            select(StoryRow.title, StoryRow.original_url, StoryRow.provider)
            .where(StoryRow.cluster_id == d.cluster_id, StoryRow.id != story.id, StoryRow.id.not_in(threaded))
            .order_by(StoryRow.id)
            .limit(MAX_RELATED)
        ).all()
        in_thread = set(s.scalars(select(StoryRow.original_url).where(StoryRow.id.in_(threaded))))
        known = {r.url for r in related}
        related = [RelatedLink(t, u, p) for t, u, p in others if u not in known] + [
            r for r in related if r.url not in in_thread
        ]
    elif d.kind == "reply":  # a reply from the alert's own outlet is its republish: "Updated by"
        first = s.scalar(
            select(StoryRow.provider_domain)
            .join(Delivery, Delivery.story_id == StoryRow.id)
            .where(
                Delivery.cluster_id == d.cluster_id,
                Delivery.channel_id == d.channel_id,
                Delivery.kind == "alert",
            )
        )
        update = same_outlet(first or "", story.provider_domain)
    return AlertView(
        title=story.title,
        url=story.original_url,
        summary=story.summary,
        provider=story.provider,
        published=story.published_at,
        topics=tuple(d.topics or ()),
        reasons=tuple(d.reasons or ()),
        image=story.image,
        related=tuple(related[:MAX_RELATED]),
        update=update,
        delivery_id=d.id,
    )
