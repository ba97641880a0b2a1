"""The worker: due sources polled from a queue in the database; APScheduler drains the outbox and
runs the deployment-wide jobs.

Several workers may run against one database: sources and deliveries are claimed with leases
(and row locks on PostgreSQL), so each is handled by one worker at a time, and the global jobs
run only on the worker that holds the scheduler lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from spyglass import defaults
from spyglass.clock import now_utc
from spyglass.defaults import COMPLAINT_EVERY, DRAIN_EVERY, POLL_BATCH, POLL_TICK, PRUNE_EVERY
from spyglass.delivery.digest import make_digests, send_digests
from spyglass.delivery.outbox import Outbox, worker_id
from spyglass.delivery.posters import Poster
from spyglass.refresh import poll
from spyglass.service import Services
from spyglass.store import retention
from spyglass.store.db import StoreError
from spyglass.store.schema import Meta

log = logging.getLogger(__name__)

LEADER_KEY = "scheduler-leader"
SHUTDOWN_GRACE = 30.0  # seconds a stopping worker waits for the source it is storing
PRUNE_KEY = "last-prune"  # Meta row whose lease_until is when the next daily prune is due


class Worker:
    def __init__(self, svc: Services, poster: Poster, *, stop: threading.Event | None = None) -> None:
        self.svc = svc
        self.owner = worker_id()
        self.stop = stop or threading.Event()
        self.outbox = Outbox(svc.store, poster, owner=self.owner, stop=self.stop)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone="UTC",
        )
        # One drain at a time per worker: the drain job and a poll's drain share this worker's lease
        # owner, so two of them at once could each post a row whose claim expired in the other's queue.
        self._drain_lock = threading.Lock()
        self._complaint_lock = threading.Lock()
        self._last_complaint: tuple[str, float] = ("", 0.0)
        self._poller: threading.Thread | None = None

    def start(self) -> None:
        self.scheduler.add_job(
            self._guarded(self.drain), "interval", seconds=DRAIN_EVERY, next_run_time=now_utc(), id="drain"
        )
        self.scheduler.add_job(
            self._guarded(self.leader_jobs), "interval", seconds=30, next_run_time=now_utc(), id="leader"
        )
        self.scheduler.start()
        # Sources are not APScheduler jobs: one job per source, on a pool of a few threads, fell behind
        # at a few thousand sources (each poll re-read every source row) and logged a warning for each
        # missed run. The due sources are a queue in the database instead, which every worker reads.
        self._poller = threading.Thread(target=self._poll_loop, name="spyglass-poll", daemon=True)
        self._poller.start()
        log.info("worker %s started: %d source(s)", self.owner, len(self.svc.settings.sources))

    def _poll_loop(self) -> None:
        """Poll whichever sources are due, a batch at a time, the most overdue first, until none
        are; then look again every POLL_TICK seconds. Config and Slack/OPML sources alike, each
        claimed with a lease, so several workers share the due sources without polling one twice."""
        synced = False
        while not self.stop.is_set():
            claimed = 0
            try:
                claimed = self.poll_round(sync=not synced)
                synced = True
            except Exception as e:  # the database is down or refuses writes: say so once, retry
                self._complain("poll", e, traceback=not isinstance(e, StoreError))
            if claimed < POLL_BATCH:
                self.stop.wait(POLL_TICK)

    def _guarded(self, job: Callable[..., None]) -> Callable[..., None]:
        """A job whose database refuses writes (disk full, read-only) logs one line, not a traceback
        per run; the job simply runs again on its schedule."""

        def run(*args: object) -> None:
            try:
                job(*args)
            except StoreError as e:
                self._complain(job.__name__, e)

        run.__name__ = job.__name__
        return run

    def _complain(self, what: str, e: Exception, *, traceback: bool = False) -> None:
        """One log line per distinct error, repeated at most every COMPLAINT_EVERY seconds."""
        now = time.monotonic()
        with self._complaint_lock:
            said, at = self._last_complaint
            if str(e) != said or now - at > COMPLAINT_EVERY:
                log.error("%s: %s (retrying on schedule)", what, e, exc_info=traceback)
                self._last_complaint = (str(e), now)

    def poll_round(self, *, sync: bool = False) -> int:
        """One batch of due sources; how many were claimed."""
        if self.stop.is_set():
            return 0
        report = poll(self.svc, self.owner, only_due=True, stop=self.stop, limit=POLL_BATCH, sync=sync)
        for r in report.sources:
            if r.stored:  # failures were logged when they were recorded
                log.info("source %s: %d new, %d planned", r.name, r.stored, r.planned)
        if report.planned:
            self.drain()
        return report.claimed

    def leader_jobs(self) -> None:
        """The jobs one worker runs for the whole deployment: digests falling due and the daily prune."""
        if self.stop.is_set() or not self.is_leader():
            return
        self.make_digests()
        self.prune_daily()

    def make_digests(self) -> None:
        """Digests fall due on the leader, once each (see delivery/digest.py); any worker sends them."""
        made = make_digests(self.svc.store, now_utc())
        if made.made:
            log.info("%d digest(s) due, carrying %d stories", made.made, made.stories)
            self.drain()

    def drain(self) -> None:
        if self.stop.is_set():
            return
        if not self._drain_lock.acquire(blocking=False):
            return  # the running drain claims again until nothing is left; the drain job catches the rest
        try:
            self.outbox.drain(deadline=60.0)
            send_digests(self.svc.store, self.outbox.poster, self.owner)
        finally:
            self._drain_lock.release()

    def prune_daily(self) -> None:
        """Once a day, on the leader: the history stays within [storage] retention."""
        settings = self.svc.settings
        if settings.retention <= 0 or not self._claim_prune():
            return
        report = retention.prune(
            self.svc.store,
            retention=settings.retention,
            tombstone_retention=settings.tombstone_retention,
            now=now_utc(),
            keep_sources=retention.archival_source_ids(self.svc.store, settings),
        )
        log.info(
            "pruned %d stories older than retention (%d empty clusters, %d tombstones added)",
            report.stories,
            report.clusters,
            report.tombstones_added,
        )

    def _claim_prune(self) -> bool:
        """Take today's prune in one conditional write, so that even two leaders (one whose lease
        just ran out) never prune at once."""
        now = now_utc()
        claim = update(Meta).where(
            Meta.key == PRUNE_KEY, or_(Meta.lease_until.is_(None), Meta.lease_until <= now)
        )
        with self.svc.store.session() as s:
            if getattr(
                s.execute(claim.values(value=self.owner, lease_until=now + PRUNE_EVERY)), "rowcount", 0
            ):
                return True
        try:
            with self.svc.store.session() as s:
                if s.get(Meta, PRUNE_KEY) is None:
                    s.add(Meta(key=PRUNE_KEY, value=self.owner, lease_until=now + PRUNE_EVERY))
                    return True
        except IntegrityError:
            pass
        return False

    def is_leader(self) -> bool:
        now = now_utc()
        with self.svc.store.session() as s:
            res = s.execute(
                update(Meta)
                .where(
                    Meta.key == LEADER_KEY,
                    or_(Meta.value == self.owner, Meta.lease_until.is_(None), Meta.lease_until < now),
                )
                .values(value=self.owner, lease_until=now + defaults.LEADER_LEASE)
            )
            if getattr(res, "rowcount", 0):
                return True
        try:
            with self.svc.store.session() as s:
                if s.get(Meta, LEADER_KEY) is None:
                    s.add(Meta(key=LEADER_KEY, value=self.owner, lease_until=now + defaults.LEADER_LEASE))
                    return True
        except IntegrityError:
            pass
        return False

    def shutdown(self) -> None:
        self.stop.set()
        # wait=True: a delivery in flight finishes and is recorded before we exit. The poll in
        # progress abandons its fetches, finishes the source it is storing and gives back the rest.
        self.scheduler.shutdown(wait=True)
        if self._poller is not None:
            self._poller.join(timeout=SHUTDOWN_GRACE)
        log.info("worker %s stopped", self.owner)
