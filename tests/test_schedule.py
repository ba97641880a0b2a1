"""Digest times and quiet hours as wall-clock times in a time zone, across midnight and DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spyglass.errors import ScheduleError
from spyglass.schedule import Timetable, parse_clock, parse_weekday


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, want",
    [
        ("9", "09:00"),
        ("9:30", "09:30"),
        ("09:05", "09:05"),
        ("9am", "09:00"),
        ("12am", "00:00"),
        ("9:30pm", "21:30"),
        ("12pm", "12:00"),
    ],
)
def test_times_of_day_people_write(text: str, want: str) -> None:
    assert parse_clock(text) == want


@pytest.mark.parametrize("text", ["24:00", "9:60", "13pm", "noon", "", "9.30"])
def test_times_that_are_not(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_clock(text)


def test_weekdays() -> None:
    assert parse_weekday("Mon") == 0 and parse_weekday("sunday") == 6
    with pytest.raises(ScheduleError):
        parse_weekday("mo")


def test_a_daily_digest_keeps_its_local_time_across_the_clocks_going_forward() -> None:
    t = Timetable(digest="daily", digest_at="09:00", tz="Europe/London")
    # London is on GMT until 01:00 UTC on 29 March 2026, then BST (UTC+1).
    assert t.next_digest(utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 28, 9, 0)
    assert t.next_digest(utc(2026, 3, 28, 9, 0)) == utc(2026, 3, 29, 8, 0)  # strictly after
    assert t.next_digest(utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 9, 0)  # back on GMT


def test_a_weekly_digest_lands_on_its_day() -> None:
    t = Timetable(digest="weekly", digest_at="07:30", digest_day=4, tz="America/New_York")
    due = t.next_digest(utc(2026, 12, 2, 12, 0))  # a Wednesday
    assert due == utc(2026, 12, 4, 12, 30)  # Friday 07:30 EST
    assert t.next_digest(due) == utc(2026, 12, 11, 12, 30)
    assert Timetable().next_digest(utc(2026, 1, 1)) is None


def test_quiet_hours_across_midnight() -> None:
    t = Timetable(quiet_from="22:00", quiet_to="07:00", tz="Europe/Berlin")  # UTC+1 in December
    assert t.quiet_until(utc(2026, 12, 2, 21, 30)) == utc(2026, 12, 3, 6, 0)  # 22:30 local
    assert t.quiet_until(utc(2026, 12, 3, 3, 0)) == utc(2026, 12, 3, 6, 0)  # 04:00 local
    assert t.quiet_until(utc(2026, 12, 3, 6, 0)) is None  # 07:00: over
    assert t.quiet_until(utc(2026, 12, 3, 12, 0)) is None
    day = Timetable(quiet_from="12:00", quiet_to="13:00", tz="UTC")
    assert day.quiet_until(utc(2026, 12, 3, 12, 30)) == utc(2026, 12, 3, 13, 0)
    assert day.quiet_until(utc(2026, 12, 3, 11, 59)) is None
