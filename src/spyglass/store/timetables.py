"""Channels' timetables as planning needs them: which channels take digests, which are quiet."""

from __future__ import annotations

from sqlalchemy import select

from spyglass.schedule import Timetable
from spyglass.store.db import Store
from spyglass.store.schema import ChannelSettings


def timetable_of(row: ChannelSettings) -> Timetable:
    return Timetable(
        digest=row.digest,
        digest_at=row.digest_at,
        digest_day=row.digest_day,
        tz=row.tz,
        quiet_from=row.quiet_from,
        quiet_to=row.quiet_to,
    )


def timetables(store: Store) -> dict[str, Timetable]:
    """Every channel that chose a digest or quiet hours (the rest get single alerts at once)."""
    with store.read() as s:
        rows = s.scalars(
            select(ChannelSettings).where(
                (ChannelSettings.digest != "off") | ChannelSettings.quiet_from.is_not(None)
            )
        ).all()
        return {row.channel_id: timetable_of(row) for row in rows}
