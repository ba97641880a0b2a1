"""The one clock: timezone-aware UTC everywhere (the schema refuses naive datetimes)."""

from __future__ import annotations

from datetime import datetime, timezone


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
