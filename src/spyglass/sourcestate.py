"""A source's bookkeeping after a poll: its lease, its failures and backoff.

The database can refuse writes for reasons outside Spyglass (a full disk, a read-only file). Then
what could not be written is kept in memory (`Unsaved`) and written at the start of the next
poll, so `spyglass sources` still shows the errors and no source stays leased after space comes
back. Each step is guarded on its own: a failure to record one thing never stops the next.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from spyglass.clock import now_utc
from spyglass.config import SourceConfig
from spyglass.store.db import StoreError
from spyglass.store.schema import Source

if TYPE_CHECKING:
    from spyglass.service import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    error: str
    retry_after: float | None
    disable: bool
    at: datetime


@dataclass
class Unsaved:
    """Source state the database would not take, per process; written by the next poll."""

    failures: dict[str, Failure] = field(default_factory=dict)
    leases: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_failure(self, name: str, failure: Failure) -> None:
        with self._lock:
            self.failures[name] = failure

    def keep_lease(self, name: str) -> None:
        with self._lock:
            self.leases.add(name)

    def take(self) -> tuple[dict[str, Failure], set[str]]:
        with self._lock:
            taken = self.failures, self.leases
            self.failures, self.leases = {}, set()
            return taken

    def put_back(self, failures: dict[str, Failure], leases: set[str]) -> None:
        with self._lock:
            self.failures = {**failures, **self.failures}  # a newer failure wins
            self.leases |= leases


@dataclass
class Lease:
    owner: str
    released: bool = False


# The lease held on the source being handled, so that recording its state also releases it
# (one transaction per source instead of two: a warm poll of many sources is mostly commits).
LEASE: ContextVar[Lease | None] = ContextVar("spyglass_source_lease", default=None)


def release_lease(src: Source) -> None:
    lease = LEASE.get()
    if lease is not None and src.lease_owner == lease.owner:
        src.lease_owner = src.lease_until = None
        lease.released = True


def forget_release() -> None:
    """The transaction that released the lease did not commit: the lease is still held."""
    lease = LEASE.get()
    if lease is not None:
        lease.released = False


def give_back(svc: Services, names: list[str], owner: str) -> None:
    """Release this worker's leases on ``names``; if the database will not take it, remember them."""
    try:
        with svc.store.session() as s:
            s.execute(
                update(Source)
                .where(Source.name.in_(names), Source.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )
    except StoreError as e:
        log.error("could not release %d source lease(s), will retry on the next poll: %s", len(names), e)
        for name in names:
            svc.unsaved.keep_lease(name)


def record_failure(
    svc: Services, cfg: SourceConfig, error: str, retry_after: float | None, *, disable: bool = False
) -> None:
    """Back off exponentially (interval × 2^errors, capped), honour Retry-After, never drop silently.
    If the database will not take it, the failure waits in memory for the next poll."""
    failure = Failure(error, retry_after, disable, now_utc())
    try:
        with svc.store.session() as s:
            _apply(s, svc, cfg, failure)
    except StoreError as e:
        log.error("source %s: could not record its error (%s): %s", cfg.name, error, e)
        svc.unsaved.keep_failure(cfg.name, failure)
        forget_release()
    # INFO: `run` shows it; `poll --once` (WARNING level) prints each failed source once itself.
    log.info("source %s: %s%s", cfg.name, error, " (disabled)" if disable else "")


def _apply(s: Session, svc: Services, cfg: SourceConfig, f: Failure) -> None:
    src = s.scalar(select(Source).where(Source.name == cfg.name))
    if src is None:
        return
    src.error_count = (src.error_count or 0) + 1
    src.last_error, src.last_error_at, src.last_attempt_at = f.error[:500], f.at, f.at
    delay = min(cfg.interval * 2 ** min(src.error_count, 20), svc.settings.max_backoff)
    if f.retry_after:
        delay = max(
            delay if src.error_count > 1 else cfg.interval, min(f.retry_after, svc.settings.max_backoff)
        )
    src.next_attempt_at = f.at + timedelta(seconds=delay)
    release_lease(src)
    if f.disable:
        src.disabled_reason = f"{f.error} on {f.at:%Y-%m-%d %H:%M} UTC: the feed says it is gone for good; fix its URL in the config"


def write_unsaved(svc: Services, owner: str) -> None:
    """Write what an earlier poll could not (failures, lease releases). Kept for later if it still fails."""
    failures, leases = svc.unsaved.take()
    if not failures and not leases:
        return
    configs = {c.name: c for c in svc.settings.sources}
    try:
        with svc.store.session() as s:
            for name, failure in failures.items():
                if name in configs:
                    _apply(s, svc, configs[name], failure)
            if leases:
                s.execute(
                    update(Source)
                    .where(Source.name.in_(sorted(leases)), Source.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
    except StoreError as e:
        svc.unsaved.put_back(failures, leases)
        log.error("still cannot write to the database: %s", e)
        return
    log.info(
        "wrote %d source error(s) and %d lease release(s) kept from an earlier poll",
        len(failures),
        len(leases),
    )
