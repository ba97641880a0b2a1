"""Sources a team manages from Slack, through the real app over real HTTP: signed `/spyglass feed …`,
`sources …` and `mute …` commands against `spyglass serve`, the stand-in Slack, and feed servers
on 127.0.0.1 (allowed by `[network]` where a test needs it; loopback is refused otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fakeslack import FakeSlack
from support.feeds import distinct_story
from support.feedserver import FeedServer
from support.slackreq import command, wait_listening
from support.world import ADMIN, MEMBER, World, feed, serve_world, spawn


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from serve_world(tmp_path, monkeypatch, '[network]\nallow_networks = ["127.0.0.0/8"]\n')


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from serve_world(tmp_path, monkeypatch, "")


def test_an_admin_adds_a_feed_and_its_first_poll_alerts_only_the_last_hour(world: World) -> None:
    fresh, old = distinct_story(1, "fresh"), distinct_story(2, "old")
    world.feeds.route("/watch.xml", feed([(fresh, 600), (old, 5 * 3600)]))
    answer = world.say(f"feed add {world.feeds.url('/watch.xml')}")
    assert "added the feed *Watch Weekly*" in answer and "2 stories" in answer and "last 1h" in answer
    assert world.rows("SELECT name, origin, added_by FROM sources WHERE origin != 'config'") == [
        ("Watch Weekly", "slack", ADMIN)
    ]
    assert "subscribed" in world.say("subscribe face-recognition", channel="CFACE")
    assert world.poll() == 0
    posted = " ".join(p["text"] for p in world.slack.posts("CFACE", top_level=True))
    assert fresh[1] in posted and old[1] not in posted  # the backlog is stored, not alerted
    assert world.rows("SELECT count(*) FROM stories")[0][0] == 2
    # Later stories of the same feed are alerted as usual.
    newer = distinct_story(3, "newer")
    world.feeds.route("/watch.xml", feed([(newer, 60), (fresh, 600), (old, 5 * 3600)]))
    world.rows("UPDATE sources SET next_attempt_at = NULL, etag = NULL, last_modified = NULL")
    assert world.poll() == 0
    assert newer[1] in " ".join(p["text"] for p in world.slack.posts("CFACE", top_level=True))


def test_a_member_is_told_who_may_add_feeds(world: World) -> None:
    world.feeds.route("/watch.xml", feed([(distinct_story(1), 60)]))
    answer = world.say(f"feed add {world.feeds.url('/watch.xml')}", user=MEMBER)
    assert "Only workspace admins and owners" in answer and "source_admins" in answer
    assert world.rows("SELECT count(*) FROM sources WHERE origin != 'config'")[0][0] == 0
    assert "Config Feed" in world.say("feed list", user=MEMBER)  # everyone may list


def test_loopback_is_refused_without_the_allow_list(guarded: World) -> None:
    guarded.feeds.route("/watch.xml", feed([(distinct_story(1), 60)]))
    answer = guarded.say(f"feed add {guarded.feeds.url('/watch.xml')}")
    assert answer.startswith("Not added:") and "loopback" in answer
    assert guarded.feeds.count("/watch.xml") == 0  # refused before any request
    assert guarded.rows("SELECT count(*) FROM sources WHERE origin != 'config'")[0][0] == 0


def test_a_page_that_is_not_a_feed_gets_one_clear_line(world: World) -> None:
    world.feeds.route(
        "/about", b"<!doctype html><html><body>About us</body></html>", content_type="text/html"
    )
    answer = world.say(f"feed add {world.feeds.url('/about')}")
    assert answer.startswith("Not added:") and "a web page that names no feed" in answer
    assert "Traceback" not in answer and "\n" not in answer


def test_a_web_page_is_followed_to_the_feed_it_names(world: World) -> None:
    world.feeds.route(
        "/blog",
        b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" title="RSS" '
        b'href="/blog/rss"></head><body>A blog</body></html>',
        content_type="text/html; charset=utf-8",
    )
    world.feeds.route("/blog/rss", feed([(distinct_story(1), 60)], title="The Blog"))
    answer = world.say(f"feed add {world.feeds.url('/blog')} My Blog")
    assert "added the feed *My Blog* (the feed this page names)" in answer
    assert world.rows("SELECT url FROM sources WHERE name = 'My Blog'") == [(world.feeds.url("/blog/rss"),)]


def test_list_and_remove(world: World) -> None:
    world.feeds.route("/watch.xml", feed([(distinct_story(1), 60)]))
    world.say(f"feed add {world.feeds.url('/watch.xml')} Watch")
    listing = world.say("feed list")
    assert (
        "*Watch* [not polled yet]" in listing
        and f"added by <@{ADMIN}>" in listing
        and "*Config Feed* [not polled yet] — config file" in listing
    )
    assert world.poll() == 0
    assert "*Watch* [ok] — added by" in world.say("feed list")
    assert "comes from the config file" in world.say("feed remove Config Feed")
    assert "removed the feed *Watch*" in world.say("feed remove watch")
    assert world.rows("SELECT count(*) FROM sources WHERE origin != 'config'")[0][0] == 0
    assert "No source is called" in world.say("feed remove Watch")


def test_sources_only_and_mute_change_which_channels_get_a_story(world: World) -> None:
    a = (distinct_story(1, "a")[0], "https://alpha.example/1", distinct_story(1, "a")[2])
    b = (distinct_story(2, "b")[0], "https://news.beta.example/2", distinct_story(2, "b")[2])
    world.feeds.route("/alpha.xml", feed([(a, 60)], title="Alpha"))
    world.feeds.route("/beta.xml", feed([(b, 60)], title="Beta"))
    world.say(f"feed add {world.feeds.url('/alpha.xml')}")
    world.say(f"feed add {world.feeds.url('/beta.xml')}")
    for ch in ("CALL", "CONLY", "CMUTE"):
        world.say("subscribe face-recognition", channel=ch)
    assert "follow only *Alpha*" in world.say("sources only Alpha", channel="CONLY")
    assert "muted *beta.example*" in world.say("mute https://www.beta.example/", channel="CMUTE")
    shown = world.say("list", channel="CONLY")
    assert "Sources: only *Alpha*" in shown
    assert world.poll() == 0

    def got(ch: str) -> set[str]:
        return {u for p in world.slack.posts(ch, top_level=True) for u in (a[1], b[1]) if u in p["text"]}

    assert got("CALL") == {a[1], b[1]}
    assert got("CONLY") == {a[1]}
    assert got("CMUTE") == {a[1]}  # news.beta.example is under the muted domain
    assert "unmuted *beta.example*" in world.say("unmute beta.example", channel="CMUTE")
    assert "follow *all* sources" in world.say("sources all", channel="CONLY")


def test_from_an_empty_config_to_alerts_without_touching_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`spyglass run` with no sources at all: a feed added and a topic followed from Slack, and the
    running worker (not a `poll --once`) posts the alert."""
    with FakeSlack() as slack, FeedServer() as feeds:
        slack.admins.add(ADMIN)
        story = distinct_story(7, "live")
        feeds.route("/watch.xml", feed([(story, 300)]))
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n[slack]\npost_interval = 0.05\n'
            '[network]\nallow_networks = ["127.0.0.0/8"]\n'
        )
        port, proc = spawn(cfg, slack, "run")
        try:
            wait_listening(port, proc, timeout=20)
            said = command(port, slack, f"feed add {feeds.url('/watch.xml')}", user=ADMIN, channel="CLIVE")
            assert "added the feed" in said["text"]
            assert "subscribed" in command(port, slack, "subscribe face-recognition", channel="CLIVE")["text"]
            # The worker polls added sources every 30 s; the alert follows without any command.
            assert slack.wait_for(lambda: slack.posts("CLIVE", top_level=True), timeout=60), proc
            assert story[1] in slack.posts("CLIVE", top_level=True)[0]["text"]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
