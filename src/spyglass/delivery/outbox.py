"""Draining the outbox: claim pending deliveries, post them paced per channel, record the result.

Guarantee (documented in the README): a delivery row exists before its post and is marked sent
with Slack's `ts` right after. A crash between the post and the mark leaves the row claimed; its
lease expires and it is posted again. So at most the messages in flight at a crash can appear
twice — one per channel being drained, since channels drain in parallel (tests/test_crash_safety.py
measures it) — and Slack has no idempotency key to do better. A clean stop (SIGTERM) finishes and
records the posts in flight, so it duplicates nothing. The lease is renewed right before each post,
so a long paced queue never outlives its claim. A post sent but never answered (timeout, dropped
connection) is looked for in the channel by its metadata before it is posted again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from spyglass import defaults
from spyglass.clock import now_utc
from spyglass.defaults import AUTH_PAUSE, CLAIM_BATCH, MAX_ATTEMPTS
from spyglass.delivery.outcomes import hold_channel, retry_later
from spyglass.delivery.posters import Poster, PostOutcome, Result
from spyglass.delivery.view import alert_view
from spyglass.models import AlertView
from spyglass.store.db import Store
from spyglass.store.schema import Cluster, Delivery, Digest, StoryRow, Subscription

log = logging.getLogger(__name__)

CHUNK = 8  # a channel's deliveries read and leased in one transaction when posting is not paced

_deliveries = cast(Table, Delivery.__table__)
_MARK_SENT = (  # compiled once: marking a post sent is the one write every post makes
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("did"))
    .values(
        status="sent",
        ts=bindparam("ts"),
        sent_at=bindparam("now"),
        last_error=None,
        attempts=bindparam("attempts"),
        lease_owner=None,
        lease_until=None,
    )
)


def delivery_key(did: int, url: str) -> str:
    """Names a delivery in its message's metadata: the row id, and the story's URL so that another
    installation posting to the same channel never matches it."""
    return f"{did}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def worker_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    held: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Ready:
    """A leased delivery, read: what its post needs once its turn comes."""

    did: int
    view: AlertView
    channel: str
    kind: str
    attempts: int
    unconfirmed: datetime | None
    thread_ts: str | None


class Outbox:
    def __init__(
        self, store: Store, poster: Poster, *, owner: str | None = None, stop: threading.Event | None = None
    ) -> None:
        self.store = store
        self.poster = poster
        self.owner = owner or worker_id()
        self.stop = stop or threading.Event()
        self._report_lock = threading.Lock()
        # When each channel was last posted to (monotonic): pacing holds across drains, not just within one.
        self._last_post: dict[str, float] = {}

    # ------------------------------------------------------------------ claiming
    def claim(self, limit: int = CLAIM_BATCH) -> list[int]:
        now = now_utc()
        with self.store.session() as s:
            due = (
                select(Delivery.id)
                .where(
                    Delivery.status == "pending",
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                    or_(Delivery.not_before.is_(None), Delivery.not_before <= now),
                )
                .order_by(Delivery.id)
                .limit(limit)
            )
            if self.store.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(s.scalars(due).all())
            if not ids:
                return []
            s.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.status == "pending",
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .values(lease_owner=self.owner, lease_until=now + defaults.DELIVERY_LEASE)
            )
            return list(
                s.scalars(
                    select(Delivery.id).where(Delivery.id.in_(ids), Delivery.lease_owner == self.owner)
                ).all()
            )

    # ------------------------------------------------------------------ draining
    def drain(
        self,
        *,
        deadline: float = 120.0,
        max_channels: int = 20,
        on_fatal: Callable[[str], None] | None = None,
    ) -> DrainReport:
        """Post everything claimable; return when nothing is left (or the deadline passes)."""
        report = DrainReport()
        end = time.monotonic() + deadline
        while not self.stop.is_set() and time.monotonic() < end:
            ids = self.claim()
            if not ids:
                if self._waiting_soon(end):
                    time.sleep(0.5)
                    continue
                break
            if self.poster.local:
                self._drain_locally(ids, report)
                continue
            by_channel: dict[str, list[int]] = defaultdict(list)
            with self.store.session() as s:
                for did, ch in s.execute(
                    select(Delivery.id, Delivery.channel_id).where(Delivery.id.in_(ids)).order_by(Delivery.id)
                ):
                    by_channel[ch].append(did)
            fatal = threading.Event()
            # Channels drain in parallel; within a channel, posts are paced (Slack: ~1 per second).
            with ThreadPoolExecutor(max_workers=min(max_channels, len(by_channel))) as pool:
                for channel, dids in by_channel.items():
                    pool.submit(self._drain_channel, channel, dids, report, fatal, end)
            if fatal.is_set():
                if on_fatal:
                    on_fatal(report.errors[-1] if report.errors else "fatal Slack error")
                break
        return report

    def _waiting_soon(self, end: float) -> bool:
        """Are there pending rows that become claimable before the deadline (Retry-After, replies)?"""
        horizon = now_utc() + timedelta(seconds=max(0.0, end - time.monotonic()))
        with self.store.session() as s:
            row = s.scalar(
                select(Delivery.id)
                .where(
                    Delivery.status == "pending",
                    or_(Delivery.not_before.is_(None), Delivery.not_before <= horizon),
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until <= horizon),
                )
                .limit(1)
            )
        return row is not None

    def _drain_channel(
        self, channel: str, ids: list[int], report: DrainReport, fatal: threading.Event, end: float
    ) -> None:
        last_post = self._last_post.get(channel, 0.0)
        todo, singles = deque(ids), 0
        while todo:
            if self.stop.is_set() or fatal.is_set() or time.monotonic() > end:
                for did in todo:
                    self._release(did)
                return
            chunk = [todo.popleft() for _ in range(1 if singles else min(self._span, len(todo)))]
            singles = max(0, singles - 1)
            try:
                ready, later = self._lease(chunk, report)
            except Exception as e:  # one bad row must not stop the channel
                if len(chunk) > 1:  # which one? the chunk again, a row at a time
                    todo.extendleft(reversed(chunk))
                    singles = len(chunk)
                    continue
                log.exception("delivery %s failed unexpectedly", chunk[0])
                self._fail(chunk[0], f"{type(e).__name__}: {e}"[:300], report, retry_in=60)
                continue
            todo.extendleft(reversed(later))
            for i, item in enumerate(ready):
                if self.stop.is_set() or fatal.is_set() or time.monotonic() > end:
                    todo.extendleft(reversed([r.did for r in ready[i:]]))
                    break
                wait = self.poster.pacing - (time.monotonic() - last_post)
                if wait > 0:
                    time.sleep(wait)
                try:
                    result = self._send(item, report, fatal)
                except Exception as e:
                    log.exception("delivery %s failed unexpectedly", item.did)
                    self._fail(item.did, f"{type(e).__name__}: {e}"[:300], report, retry_in=60)
                    result = Result.REJECTED  # counts as a post (pacing), and ends the chunk
                if result is not None:
                    last_post = self._last_post[channel] = time.monotonic()
                if result is not Result.SENT:  # whatever happened may concern the rest: read them again
                    todo.extendleft(reversed([r.did for r in ready[i + 1 :]]))
                    break

    @property
    def _span(self) -> int:
        """How many of a channel's deliveries are read and leased in one transaction. A chunk spans
        at most about a second of pacing, so no post shows what it read longer ago than that; at
        Slack's pace (1 post/s) it is one at a time."""
        pacing = self.poster.pacing
        return CHUNK if pacing <= 0 else max(1, min(CHUNK, int(1 / pacing)))

    def _release(self, did: int) -> None:
        with self.store.session() as s:
            s.execute(
                update(Delivery)
                .where(Delivery.id == did, Delivery.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def _lease(self, chunk: list[int], report: DrainReport) -> tuple[list[_Ready], list[int]]:
        """Read and lease a channel's next claimed deliveries, in id order: what each post needs,
        and the ids left for a later chunk (from the first thread reply on: its alert may be in
        this chunk, not posted yet)."""
        ready: list[_Ready] = []
        later: list[int] = []
        with self.store.session() as s:
            # Lock the rows (PostgreSQL; SQLite writers are serialized anyway) and renew the leases:
            # a long paced queue must not outlive its claim and be posted by another drain too.
            # Each row comes with its story and its cluster's size (`_prepare` finds the story
            # already loaded); a story alone in its cluster (most) has no related coverage to look up.
            query = (
                select(Delivery, Cluster.size, StoryRow)
                .select_from(Delivery)
                .outerjoin(StoryRow, StoryRow.id == Delivery.story_id)
                .outerjoin(Cluster, Cluster.id == Delivery.cluster_id)
                .where(Delivery.id.in_(chunk))
                .order_by(Delivery.id)
            )
            if self.store.dialect == "postgresql":
                query = query.with_for_update(of=_deliveries)
            lease = now_utc() + defaults.DELIVERY_LEASE
            for d, cluster_size, _ in s.execute(query).all():
                if later or (d.kind == "reply" and ready):
                    later.append(d.id)
                    continue
                if d.status != "pending" or d.lease_owner != self.owner:
                    continue
                d.lease_until = lease
                got = self._prepare(s, d, report)
                if got is None:
                    continue
                story, thread_ts = got
                view = alert_view(s, d, story, alone=d.kind == "alert" and cluster_size == 1)
                ready.append(
                    _Ready(d.id, view, d.channel_id, d.kind, d.attempts, d.unconfirmed_at, thread_ts)
                )
        return ready, later

    def _send(self, item: _Ready, report: DrainReport, fatal: threading.Event) -> Result | None:
        """Post one leased delivery and record what became of it; None when no post was made."""
        did, view, channel, kind = item.did, item.view, item.channel, item.kind
        thread_ts, attempts, unconfirmed = item.thread_ts, item.attempts, item.unconfirmed
        # Block Kit (slack_sdk's models) only for posters that send messages: the console never does.
        from slack_sdk.errors import SlackObjectFormationError

        from spyglass.delivery.blocks import build_alert, build_reply

        key = delivery_key(did, view.url)
        if unconfirmed is not None and self._posted_after_all(
            did, channel, key, thread_ts, unconfirmed, report
        ):
            return None
        try:
            message = build_reply(view) if kind == "reply" else build_alert(view)
        except SlackObjectFormationError as e:  # a builder bug; never send a message Slack would reject
            self._fail(did, f"message over Block Kit limits: {e}", report, retry_in=None)
            return None
        started = now_utc()
        outcome = self.poster.post(channel, message, view, thread_ts, key=key)
        notes: list[tuple[str, str, str]] = []  # (user, channel, error): channels this post paused
        self._record(did, channel, attempts, outcome, report, fatal, started, notes)
        for user, ch, error in notes:  # after the commit: a slow note never holds the row
            self.poster.notify(
                user,
                f"Spyglass can no longer post in <#{ch}>: Slack says `{error}`. "
                "Its alerts are paused and kept. Invite the app back (`/invite @Spyglass`), then "
                "run `/spyglass resume` in that channel.",
            )
        return outcome.result

    def _prepare(
        self, s: Session, d: Delivery, report: DrainReport, posted: dict[tuple[int, str], str] | None = None
    ) -> tuple[StoryRow, str | None] | None:
        """The story and, for a thread reply, its alert's ts; None when the row is settled instead
        (its story is gone, its alert was never posted, or the alert is not posted yet: later)."""
        story = s.get(StoryRow, d.story_id)
        if story is None:
            d.status = "failed"
            d.last_error = "story no longer exists"
            return None
        if d.kind != "reply":
            return story, None
        if posted and (d.cluster_id, d.channel_id) in posted:  # its alert went out earlier in this batch
            return story, posted[(d.cluster_id, d.channel_id)]
        alert = s.scalar(
            select(Delivery).where(
                Delivery.cluster_id == d.cluster_id,
                Delivery.channel_id == d.channel_id,
                Delivery.kind == "alert",
            )
        )
        if alert is not None and alert.status == "digest":  # its alert waits for a digest: so does it
            d.status, d.lease_owner, d.lease_until = "digest", None, None
            return None
        if alert is None or alert.status in ("failed", "held"):
            d.status = "skipped"
            d.last_error = "the original alert was not posted"
            return None
        if not alert.ts:  # original not posted yet: try again shortly
            d.not_before = now_utc() + timedelta(seconds=2)
            d.lease_owner = d.lease_until = None
            with self._report_lock:
                report.deferred += 1
            return None
        return story, alert.ts

    def _drain_locally(self, ids: list[int], report: DrainReport) -> None:
        """A poster that cannot fail or lose an answer (the console): the whole claimed batch in one
        transaction, in id order, marked sent with one executemany at the end. An alert posted in
        the batch gives its thread replies their ts from memory. A crash before the commit prints
        the batch again on the next run: at least once, as everywhere."""
        with self.store.session() as s, s.no_autoflush:
            rows = s.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)).all()
            # The batch's stories in one query, held here: the session's identity map only keeps
            # objects something refers to, and _prepare's lookups must find them there. Stories alone
            # in their cluster (most alerts) have no related coverage to look up.
            _loaded = s.scalars(select(StoryRow).where(StoryRow.id.in_({d.story_id for d in rows}))).all()
            clusters = select(Cluster.id, Cluster.size).where(Cluster.id.in_({d.cluster_id for d in rows}))
            sizes = {cid: size for cid, size in s.execute(clusters)}
            posted: dict[tuple[int, str], str] = {}  # (cluster, channel) -> ts of alerts posted here
            sent: list[dict[str, object]] = []
            for d in rows:
                if self.stop.is_set() or d.status != "pending" or d.lease_owner != self.owner:
                    continue
                ready = self._prepare(s, d, report, posted)
                if ready is None:
                    continue
                story, thread_ts = ready
                view = alert_view(s, d, story, alone=sizes.get(d.cluster_id) == 1)
                ts = self.poster.post(d.channel_id, {}, view, thread_ts).ts
                if d.kind == "alert":
                    posted[(d.cluster_id, d.channel_id)] = ts
                sent.append(
                    {"id": d.id, "status": "sent", "ts": ts, "sent_at": now_utc(), "attempts": d.attempts + 1}
                )
            s.flush()  # what _prepare settled (skipped, deferred, failed)
            if sent:
                s.execute(
                    update(Delivery),
                    [{**row, "last_error": None, "lease_owner": None, "lease_until": None} for row in sent],
                )
            unsent = [
                d.id for d in rows if d.lease_owner == self.owner and d.id not in {r["id"] for r in sent}
            ]
            if unsent:  # stopped part-way: the rest go back for the next drain
                s.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(unsent),
                        Delivery.status == "pending",
                        Delivery.lease_owner == self.owner,
                    )
                    .values(lease_owner=None, lease_until=None)
                )
            report.sent += len(sent)

    def _posted_after_all(
        self, did: int, channel: str, key: str, thread_ts: str | None, since: datetime, report: DrainReport
    ) -> bool:
        """The last attempt got no answer: look in the channel before posting again. True when the
        row is settled (found and marked sent, or the check must wait for a rate limit)."""
        found = self.poster.find(channel, key, thread_ts, since.timestamp())
        with self.store.session() as s:
            d = s.get(Delivery, did)
            if d is None or d.lease_owner != self.owner:
                return True
            if found.ts:
                log.info(
                    "delivery %s: the unanswered post did reach %s (ts %s); not posting again",
                    did,
                    channel,
                    found.ts,
                )
                d.status, d.ts, d.sent_at, d.last_error = "sent", found.ts, now_utc(), None
                d.unconfirmed_at = d.lease_owner = d.lease_until = None
                with self._report_lock:
                    report.sent += 1
                return True
            if found.error and found.retry_after:
                d.not_before = now_utc() + timedelta(seconds=found.retry_after)
                d.lease_owner = d.lease_until = None
                with self._report_lock:
                    report.deferred += 1
                return True
            if found.error:  # e.g. missing_scope without channels:history: at most one duplicate
                log.warning(
                    "delivery %s: cannot check whether the unanswered post reached %s (%s); posting again",
                    did,
                    channel,
                    found.error,
                )
            d.unconfirmed_at = None
        return False

    def _record(
        self,
        did: int,
        channel: str,
        attempts: int,
        outcome: PostOutcome,
        report: DrainReport,
        fatal: threading.Event,
        started: datetime,
        notes: list[tuple[str, str, str]],
    ) -> None:
        """Write what became of one post; each kind of outcome has its own next step."""
        now = now_utc()
        if outcome.result is Result.SENT:  # the common case: one statement, no row loaded, no ORM
            with self.store.write() as conn:
                conn.execute(_MARK_SENT, {"did": did, "ts": outcome.ts, "now": now, "attempts": attempts + 1})
            with self._report_lock:
                report.sent += 1
            return
        with self.store.session() as s:
            d = s.get(Delivery, did)
            assert d is not None
            d.lease_owner = d.lease_until = None
            if outcome.result is Result.AUTH:
                self._token_refused(s, d, channel, outcome, report, fatal, now)
                return
            d.attempts = attempts + 1
            d.last_error = outcome.error
            if outcome.result is Result.CHANNEL_GONE:
                notes.extend(hold_channel(s, d, channel, outcome.error, now))
                with self._report_lock:
                    report.held += 1
                return
            if outcome.result is Result.LOST:  # the earliest unanswered attempt bounds the check's window
                d.unconfirmed_at = d.unconfirmed_at or started
            settled = retry_later(d, outcome, now)
            with self._report_lock:
                if settled:
                    report.failed += 1
                else:
                    report.deferred += 1
                report.errors.append(f"{channel}: {outcome.error}")

    def _token_refused(
        self,
        s: Session,
        d: Delivery,
        channel: str,
        outcome: PostOutcome,
        report: DrainReport,
        fatal: threading.Event,
        now: datetime,
    ) -> None:
        """The token, not this message, is the problem: spend no attempt, and make every waiting row
        wait, so neither this worker nor another retries each row against Slack."""
        until = now + AUTH_PAUSE
        waiting = or_(Delivery.not_before.is_(None), Delivery.not_before < until)
        s.execute(update(Delivery).where(Delivery.status == "pending", waiting).values(not_before=until))
        d.last_error = outcome.error
        with self._report_lock:
            first = not fatal.is_set()
            fatal.set()
            report.deferred += 1
            report.errors.append(f"{channel}: {outcome.error}")
        if first:
            log.error(
                "Slack refused the bot token (%s); delivery stopped, retrying in %ds",
                outcome.error,
                AUTH_PAUSE.total_seconds(),
            )

    def _fail(self, did: int, error: str, report: DrainReport, retry_in: float | None) -> None:
        with self.store.session() as s:
            d = s.get(Delivery, did)
            if d is None:
                return
            d.attempts += 1
            d.last_error = error
            d.lease_owner = d.lease_until = None
            if retry_in is None or d.attempts >= MAX_ATTEMPTS:
                d.status = "failed"
            else:
                d.not_before = now_utc() + timedelta(seconds=retry_in)
        with self._report_lock:
            report.failed += 1
            report.errors.append(error)


def resume_channel(store: Store, channel: str, *, quick: bool = False) -> int:
    """Un-pause a channel (e.g. after the bot was invited back): held deliveries become pending."""
    with store.session(quick=quick) as s:
        s.execute(update(Subscription).where(Subscription.channel_id == channel).values(paused_reason=None))
        res = s.execute(
            update(Delivery)
            .where(and_(Delivery.channel_id == channel, Delivery.status == "held"))
            .values(status="pending", not_before=None, lease_owner=None, lease_until=None)
        )
        digests = s.execute(
            update(Digest)
            .where(Digest.channel_id == channel, Digest.status == "held")
            .values(status="pending", not_before=None, lease_owner=None, lease_until=None)
        )
        return int(getattr(res, "rowcount", 0) or 0) + int(getattr(digests, "rowcount", 0) or 0)
