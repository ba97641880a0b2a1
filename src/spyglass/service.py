"""The application's services wired together once: settings, store, topics, matcher, search."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from spyglass.config import Settings
from spyglass.models import Topic
from spyglass.sources.state import Unsaved
from spyglass.store.db import Store, open_store
from spyglass.store.planning import ChannelFilter, Plan, Route
from spyglass.store.schema import ChannelMute, ChannelSource, Subscription
from spyglass.store.search import SearchBackend, search_backend
from spyglass.store.timetables import timetables
from spyglass.topics import Matcher, keyword_topic, load_topics


@dataclass
class Services:
    settings: Settings
    store: Store
    topics: list[Topic]
    search: SearchBackend
    source_ids: dict[str, int] = field(default_factory=dict)
    unsaved: Unsaved = field(default_factory=Unsaved)  # source state the database refused, for the next poll
    _matcher_cache: dict[tuple[str, ...], Matcher] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def topic_by_slug(self) -> dict[str, Topic]:
        return {t.slug: t for t in self.topics}

    @property
    def slack_enabled(self) -> bool:
        return bool(self.settings.slack.bot_token)

    def subscriptions(self) -> list[Subscription]:
        with self.store.read() as s:
            return list(s.scalars(select(Subscription).order_by(Subscription.id)).all())

    def channel_filters(self) -> dict[str, ChannelFilter]:
        """Each channel's choice of sources and its muted outlets (only channels that made one)."""
        with self.store.read() as s:
            chosen: dict[str, set[int]] = {}
            for channel, sid in s.execute(select(ChannelSource.channel_id, ChannelSource.source_id)):
                chosen.setdefault(channel, set()).add(sid)
            muted: dict[str, set[str]] = {}
            for channel, outlet in s.execute(select(ChannelMute.channel_id, ChannelMute.outlet)):
                muted.setdefault(channel, set()).add(outlet)
        return {
            ch: ChannelFilter(frozenset(chosen[ch]) if ch in chosen else None, frozenset(muted.get(ch, ())))
            for ch in chosen.keys() | muted.keys()
        }

    def plan_and_matcher(self) -> tuple[Plan, Matcher]:
        """Who is subscribed to what right now, and a matcher for the topics plus every keyword in use."""
        by_slug = self.topic_by_slug
        plan = Plan(labels={t.slug: t.label for t in self.topics}, console=not self.slack_enabled)
        keywords: dict[str, Topic] = {}
        if self.slack_enabled:
            for sub in self.subscriptions():
                if sub.paused_reason:
                    continue
                if sub.kind == "keyword":
                    kt = keyword_topic(sub.phrase, sub.excludes or [])
                    keywords[kt.slug] = kt
                    plan.routes.setdefault(kt.slug, []).append(Route(sub.channel_id, kt.label))
                elif sub.key in by_slug:
                    plan.routes.setdefault(sub.key, []).append(Route(sub.channel_id, by_slug[sub.key].label))
        if self.slack_enabled:
            plan.filters = self.channel_filters()
            plan.timetables = timetables(self.store)
        key = tuple(sorted(keywords))
        with self._lock:
            matcher = self._matcher_cache.get(key)
            if matcher is None:
                matcher = Matcher([*self.topics, *keywords.values()])
                self._matcher_cache.clear()
                self._matcher_cache[key] = matcher
        return plan, matcher


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    topics = load_topics(
        settings.topics_file,
        list(settings.custom_topics) or None,
        overrides_from=f"{settings.config_path}: topics.custom",
    )
    store = open_store(settings.database_url, migrate=migrate)
    return Services(
        settings=settings,
        store=store,
        topics=topics,
        search=search_backend(store),
    )
