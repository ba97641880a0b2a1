"""SQLAlchemy 2.x typed models. The migrations in store/migrations are the source of truth for
the database; these classes mirror them for queries (and a test checks the two agree)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive ones, so make them aware again."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use datetime.now(timezone.utc)")
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from datetime import timezone

            value = value.replace(tzinfo=timezone.utc)
        return value


class JSONData(TypeDecorator[object]):
    """JSON values: SQLite stores them as text (it has no JSON type), PostgreSQL as jsonb. Chosen per
    dialect when a connection first needs it, so that commands on SQLite never import the PostgreSQL
    dialect (~50 ms of every start), as `JSON().with_variant(JSONB(), ...)` did."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    pass


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # feed | folder
    location: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stories_seen: Mapped[int] = mapped_column(Integer, default=0)  # over the source's life
    # The last poll that read anything: entries seen, stories newly stored, entries skipped and why.
    last_seen: Mapped[int | None] = mapped_column(Integer)
    last_stored: Mapped[int | None] = mapped_column(Integer)
    last_skipped: Mapped[int | None] = mapped_column(Integer)
    last_skip_reason: Mapped[str | None] = mapped_column(Text)
    # Where the source came from: "config" (the operator's file, trusted, kept in step by
    # sync_sources) or "slack" / "opml" (added at run time: untrusted, removable, URL kept here).
    origin: Mapped[str] = mapped_column(String(10), default="config", server_default="config")
    url: Mapped[str | None] = mapped_column(Text)  # an added source's feed URL (never with credentials)
    added_by: Mapped[str | None] = mapped_column(String(40))
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChannelSource(Base):
    """A channel that follows only some sources lists them here; a channel with no rows follows all."""

    __tablename__ = "channel_sources"

    channel_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)


class ChannelMute(Base):
    """An outlet a channel does not want: a domain ("example.org", subdomains too) or an outlet's name."""

    __tablename__ = "channel_mutes"

    channel_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    outlet: Mapped[str] = mapped_column(String(200), primary_key=True)  # folded: lower case


class FolderFile(Base):
    """What was ingested from a folder source, so an unchanged file is not read twice."""

    __tablename__ = "folder_files"

    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer, default=1)


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)  # canonical
    original_url: Mapped[str] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text, index=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    provider: Mapped[str] = mapped_column(Text, default="")
    provider_domain: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str] = mapped_column(Text, default="")
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    matches: Mapped[dict[str, list[str]]] = mapped_column(JSONData(), default=dict)  # {slug: [phrases]}
    # [{title, url, provider}]
    related: Mapped[list[dict[str, str]]] = mapped_column(JSONData(), default=list)


class StoryTopic(Base):
    """Which topics (and keyword topics) a story matched, one row each: `topic:` search filters by
    an index lookup, not a scan of the stories' JSON."""

    __tablename__ = "story_topics"
    __table_args__ = (Index("ix_story_topics_slug", "slug", "story_id"),)

    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), primary_key=True)


class LshBand(Base):
    """(band key, story) pairs: near-duplicate candidates come from an index lookup, not a scan."""

    __tablename__ = "lsh_bands"

    band: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel_id", "key", name="uq_subscription_channel_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(40), default="")
    channel_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # topic | keyword
    key: Mapped[str] = mapped_column(Text)  # topic slug, or the keyword topic's slug
    phrase: Mapped[str] = mapped_column(Text, default="")  # keyword subscriptions: the phrase
    excludes: Mapped[list[str]] = mapped_column(JSONData(), default=list)  # keyword subscriptions' exclusions
    created_by: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """The outbox: written in the same transaction as the story, marked sent with Slack's ts after."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("channel_id", "story_id", name="uq_delivery_channel_story"),
        Index("ix_deliveries_pending", "status", "channel_id"),
        Index("ix_deliveries_cluster", "cluster_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(40))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # alert | reply
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | failed | held
    topics: Mapped[list[str]] = mapped_column(JSONData(), default=list)  # labels this channel matched on
    reasons: Mapped[list[str]] = mapped_column(JSONData(), default=list)  # phrases that fired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[str | None] = mapped_column(String(40))
    thread_ts: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a post went out but its answer never came: the next attempt looks for it before posting.
    unconfirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # status "digest": waiting for the channel's digest; once one is made, the digest that carries it.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"), index=True)


class ChannelSettings(Base):
    """How a channel wants its alerts: one at a time or as a digest, and when it wants quiet."""

    __tablename__ = "channel_settings"

    channel_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(String(10), default="off")  # off | daily | weekly
    digest_at: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM, local time
    digest_day: Mapped[int] = mapped_column(Integer, default=0)  # weekly: 0 = Monday
    tz: Mapped[str] = mapped_column(String(64), default="UTC")  # an IANA time zone name
    next_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    quiet_from: Mapped[str | None] = mapped_column(String(5))  # HH:MM local; both set or neither
    quiet_to: Mapped[str | None] = mapped_column(String(5))
    set_by: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Digest(Base):
    """One digest message, an outbox row like an alert: made once per channel and due time (the
    unique key keeps two workers from making it twice), claimed with a lease, marked sent with its ts."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("channel_id", "due_at", name="uq_digest_channel_due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | failed
    ts: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a post went out but its answer never came: the next attempt looks for it first.
    unconfirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Feedback(Base):
    """A person's rating of one alert: 👍 (+1), 👎 (-1), or "wrong topic" (-1 with the topic named).
    One per person and alert (a second click changes it); nothing is ever deleted because of it."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("delivery_id", "user_id", name="uq_feedback_delivery_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    story_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    value: Mapped[int] = mapped_column(Integer)  # +1 | -1
    wrong_topic: Mapped[str | None] = mapped_column(Text)  # the topic label said to be wrong
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Tombstone(Base):
    """A pruned story's canonical URL or GUID, hashed (see retention.py): never stored or alerted again."""

    __tablename__ = "tombstones"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Meta(Base):
    """Small key/value facts (e.g. the scheduler leader's lease)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
