"""Digests and quiet hours, through the real app: signed `/spyglass digest …` and `quiet …` commands
to `spyglass serve`, `spyglass poll --once` and `spyglass digest send` as the CLI runs them, the
stand-in Slack, and a local feed server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from spyglass.cli import main
from support.blockkit import block_kit_problems
from support.feeds import distinct_story
from support.world import World, feed, serve_world, spawn


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from serve_world(tmp_path, monkeypatch, "")


def _stories(world: World, n: int, tag: str) -> list[tuple[str, str, str]]:
    items = [distinct_story(i, tag) for i in range(n)]
    world.feeds.route("/config.xml", feed([(it, 60 * (i + 1)) for i, it in enumerate(items)]))
    world.rows("UPDATE sources SET next_attempt_at = NULL, etag = NULL, last_modified = NULL")
    return items


def _send(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """`spyglass digest send …` as its own process (a cron host's, or after a restart)."""
    return subprocess.run(
        [sys.executable, "-m", "spyglass", "--config", str(world.cfg), "digest", "send", *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_digest_channel_gets_no_single_alerts_and_one_grouped_message(world: World) -> None:
    assert "subscribed" in world.say("subscribe face-recognition")
    answer = world.say("digest daily 09:00 tz=Europe/London")
    assert "daily digest at 09:00 (Europe/London)" in answer
    items = _stories(world, 3, "dg")
    assert world.poll() == 0
    assert world.slack.posts("CNEWS") == []  # held for the digest
    assert world.rows("SELECT status, count(*) FROM deliveries GROUP BY status") == [("digest", 3)]
    # Not due yet (09:00 London is in the future): a cron run sends nothing.
    quiet = _send(world)
    assert quiet.returncode == 0 and "0 digest(s) sent" in quiet.stderr
    assert world.slack.posts("CNEWS") == []
    # Sent now for this channel: one message, grouped under the topic, newest first.
    done = _send(world, "--channel", "CNEWS")
    assert done.returncode == 0, done.stderr
    posts = world.slack.posts("CNEWS")
    assert len(posts) == 1
    blocks = posts[0]["blocks"]
    assert block_kit_problems(blocks) == []
    body = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "3 new stories" in body and "*Face recognition* (3)" in body
    order = [body.index(it[1]) for it in items]
    assert order == sorted(order)  # items[0] is the newest
    assert world.rows("SELECT status, count(*) FROM deliveries GROUP BY status") == [("sent", 3)]
    # Sending again finds nothing waiting: a digest is sent once.
    assert "0 digest(s) sent" in _send(world, "--channel", "CNEWS").stderr
    assert len(world.slack.posts("CNEWS")) == 1


def test_a_due_digest_survives_a_restart_and_is_sent_once_by_two_senders(world: World) -> None:
    world.say("subscribe face-recognition")
    world.say("digest weekly fri 07:30 tz=UTC")
    _stories(world, 2, "due")
    assert world.poll() == 0
    (due,) = world.rows("SELECT next_digest_at FROM channel_settings")[0]
    when = datetime.fromisoformat(due).replace(tzinfo=UTC)
    assert when.weekday() == 4 and (when.hour, when.minute) == (7, 30) and when > datetime.now(UTC)
    # Time passes (the schedule is in the database, not in a process): the digest is due.
    world.rows("UPDATE channel_settings SET next_digest_at = '2020-01-03 07:30:00.000000'")
    senders = [
        subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(world.cfg), "digest", "send"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in senders:
        p.wait(timeout=60)
        assert p.returncode == 0
    assert len(world.slack.posts("CNEWS")) == 1
    assert world.rows("SELECT count(*) FROM digests") == [(1,)]
    # …and the schedule moved on to the next Friday after now.
    (nxt,) = world.rows("SELECT next_digest_at FROM channel_settings")[0]
    assert datetime.fromisoformat(nxt).replace(tzinfo=UTC) > datetime.now(UTC)


def test_digest_off_sends_what_waited_and_goes_back_to_single_alerts(world: World) -> None:
    world.say("subscribe face-recognition")
    world.say("digest daily 18:00")
    _stories(world, 2, "off")
    world.poll()
    assert world.slack.posts("CNEWS") == []
    answer = world.say("digest off")
    assert "back to single alerts" in answer and "2 stories waiting" in answer
    world.poll()  # the last digest goes out with the next delivery
    assert len(world.slack.posts("CNEWS")) == 1 and "digest" in world.slack.posts("CNEWS")[0]["text"]
    later = _stories(world, 1, "later")
    world.poll()
    posts = world.slack.posts("CNEWS")
    assert len(posts) == 2 and later[0][1] in posts[-1]["text"]


def test_the_digest_time_zone_defaults_to_the_person_who_set_it(world: World) -> None:
    world.slack.timezones["UADMIN1"] = "America/New_York"
    assert "(America/New_York)" in world.say("digest daily 9am")
    (due,) = world.rows("SELECT next_digest_at FROM channel_settings")[0]
    local = datetime.fromisoformat(due).replace(tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert "This channel gets a daily digest at 09:00 (America/New_York)" in world.say("digest")


@pytest.mark.parametrize(
    "text, said",
    [
        ("digest daily 25:00", "not a time of day"),
        ("digest weekly someday 09:00", "not a day of the week"),
        ("digest daily 09:00 tz=Mars/Olympus", "not a time zone I know"),
        ("digest hourly", "Try `/spyglass digest daily 09:00`"),
        ("quiet 22:00", "Try `/spyglass quiet 22:00-07:00`"),
        ("quiet 22:00-22:00", "start and end at the same time"),
    ],
)
def test_a_mistyped_schedule_is_explained_and_changes_nothing(world: World, text: str, said: str) -> None:
    answer = world.say(text)
    assert said in answer
    assert world.rows("SELECT count(*) FROM channel_settings") == [(0,)]


def test_quiet_hours_hold_alerts_until_the_window_ends(world: World) -> None:
    world.say("subscribe face-recognition")
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    assert "set quiet hours" in world.say(f"quiet {start}-{end} tz=UTC")
    _stories(world, 2, "night")
    world.poll()
    assert world.slack.posts("CNEWS") == []  # held, not dropped
    held = world.rows("SELECT status, not_before FROM deliveries")
    assert [s for s, _ in held] == ["pending", "pending"]
    until = datetime.fromisoformat(held[0][1]).replace(tzinfo=UTC)
    assert abs((until - (now + timedelta(hours=2))).total_seconds()) < 61
    # When the window has passed, the held alerts go out.
    world.rows("UPDATE deliveries SET not_before = '2020-01-01 00:00:00.000000'")
    assert main(["--config", str(world.cfg), "poll", "--once"]) == 0
    assert len(world.slack.posts("CNEWS")) == 2
    assert "turned off" in world.say("quiet off")


def test_a_huge_digest_stays_within_slacks_limits_and_counts_what_it_left_out() -> None:
    from spyglass.delivery.digest_blocks import DigestLine, build_digest

    now = datetime.now(UTC)
    topics = ["Face recognition", "Drones", "Spyware", "Biometrics"]
    lines = [
        DigestLine(
            title=f"Story {i} " + "x" * 140,
            url=f"https://news.example/very/long/path/{i}/" + "y" * 150,
            published=now - timedelta(minutes=i),
            topics=(topics[i % 4],),
            outlets=[f"Outlet {k}" for k in range(i % 7)],
        )
        for i in range(600)
    ]
    msg = build_digest(lines, since=now - timedelta(days=7), now=now)
    blocks = msg["blocks"]
    assert block_kit_problems(blocks) == [] and len(blocks) <= 50
    listed = sum(b["text"]["text"].count("https://news.example/") for b in blocks if b["type"] == "section")
    note = blocks[-1]["elements"][0]["text"]
    assert note.startswith(f"…and {600 - listed} more stories") and "since:7d" in note
    assert 0 < listed < 600
    assert "+2 more" in str(blocks)  # a line names four outlets and counts the rest


def test_a_digest_for_a_channel_that_is_gone_is_held_and_resume_sends_it(world: World) -> None:
    world.say("subscribe face-recognition")
    world.say("digest daily 09:00")
    _stories(world, 2, "gone")
    world.poll()
    world.slack.fail_channel("CNEWS", "not_in_channel")
    sent = _send(world, "--channel", "CNEWS")
    assert sent.returncode == 1 and "1 failed" in sent.stderr
    assert world.rows("SELECT status FROM digests") == [("held",)]
    assert world.rows("SELECT count(*) FROM subscriptions WHERE paused_reason IS NOT NULL") == [(1,)]
    world.slack.fail_channel("CNEWS", "")  # the app is invited back
    assert "resumed alerts" in world.say("resume")
    assert _send(world).returncode == 0
    assert len(world.slack.posts("CNEWS")) == 1 and world.rows("SELECT status FROM digests") == [("sent",)]


def test_switching_to_a_digest_takes_the_queued_alerts_and_their_replies_along(world: World) -> None:
    world.say("subscribe face-recognition")
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    world.say(f"quiet {start}-{end} tz=UTC")  # so the first copy's alert is still queued
    title, url, text = distinct_story(1, "sw")
    world.feeds.route("/config.xml", feed([((title, url, text), 600)]))
    world.poll()
    copy = (title + " (wire)", "https://other-outlet.example/sw/1", text)
    world.rows("UPDATE sources SET next_attempt_at = NULL, etag = NULL, last_modified = NULL")
    world.feeds.route("/config.xml", feed([(copy, 300), ((title, url, text), 600)]))
    world.poll()
    assert sorted(world.rows("SELECT kind, status FROM deliveries")) == [
        ("alert", "pending"),
        ("reply", "pending"),
    ]
    world.say("digest daily 09:00 tz=UTC")
    assert sorted(world.rows("SELECT kind, status FROM deliveries")) == [
        ("alert", "digest"),
        ("reply", "digest"),
    ]
    assert _send(world, "--channel", "CNEWS").returncode == 0
    (post,) = world.slack.posts("CNEWS")
    assert "1 new story" in str(post["blocks"]) and str(post["blocks"]).count("/sw/1") == 1  # one line
    assert world.rows("SELECT DISTINCT status, ts FROM deliveries") == [("sent", post["_ts"])]


def test_spyglass_run_sends_a_due_digest_by_itself(world: World) -> None:
    world.say("subscribe face-recognition")
    world.say("digest daily 09:00")
    _stories(world, 2, "run")
    world.poll()
    world.rows("UPDATE channel_settings SET next_digest_at = '2020-01-03 07:30:00.000000'")
    port, proc = spawn(world.cfg, world.slack, "run")
    try:
        assert world.slack.wait_for(lambda: world.slack.posts("CNEWS"), timeout=40), (
            "no digest from the worker"
        )
        (post,) = world.slack.posts("CNEWS")
        assert "2 new stories" in str(post["blocks"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_list_and_spyglass_channels_show_the_channels_timetable(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.say("subscribe face-recognition")
    world.say("digest weekly thu 17:00 tz=Europe/Paris")
    world.say("quiet 22:00-07:00")
    _stories(world, 1, "ls")
    world.poll()
    listed = world.say("list")
    assert "Delivery: a weekly digest on Thu at 17:00 (Europe/Paris)" in listed
    assert "Quiet hours: 22:00–07:00 (Europe/Paris)" in listed
    capsys.readouterr()
    assert main(["--config", str(world.cfg), "channels"]) == 0
    out = capsys.readouterr().out
    assert "1 waiting for the digest" in out and "delivery: a weekly digest on Thu at 17:00" in out
    assert "quiet hours: 22:00-07:00 (Europe/Paris)" in out


def test_a_digest_whose_answer_was_lost_is_found_in_the_channel_not_posted_twice(world: World) -> None:
    world.say("subscribe face-recognition")
    world.say("digest daily 09:00")
    _stories(world, 2, "lost")
    world.poll()
    world.slack.lose_answers("CNEWS", posted=True)  # Slack makes the post, the answer never arrives
    first = _send(world, "--channel", "CNEWS")
    assert (
        first.returncode == 0 and "0 digest(s) sent" in first.stderr and "1 to be tried again" in first.stderr
    )
    assert len(world.slack.messages["CNEWS"]) == 1
    assert world.rows("SELECT status, unconfirmed_at IS NOT NULL FROM digests") == [("pending", 1)]
    world.rows("UPDATE digests SET not_before = NULL")
    second = _send(world)
    assert second.returncode == 0 and "1 digest(s) sent" in second.stderr
    assert len(world.slack.messages["CNEWS"]) == 1  # found by its metadata, not posted again
    assert len(world.slack.calls("conversations.history")) == 1
    (ts,) = world.rows("SELECT ts FROM digests")[0]
    assert ts == world.slack.messages["CNEWS"][0]["ts"]
    assert world.rows("SELECT DISTINCT status, ts FROM deliveries") == [("sent", ts)]
