"""The real app over real HTTP: signed slash commands → subscriptions → poll → alerts in the right channels.

`spyglass serve` runs as a subprocess; feeds come from a local feed server; Slack is tests/support/fakeslack.py.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass.cli import main
from support.fakeslack import TOKEN, FakeSlack
from support.feeds import rss
from support.feedserver import FeedServer
from support.labels import SHIPPED_TOPICS
from support.slackreq import SECRET, command, slash, wait_listening

ITEMS = [
    (
        "Police roll out live facial recognition vans in Croydon",
        "https://news.example/frt-vans",
        "The Metropolitan Police will park live facial recognition cameras on the high street twice a week.",
    ),
    (
        "Council approves 40 new ANPR cameras",
        "https://news.example/anpr",
        "Automatic number plate recognition cameras will watch every road into the town centre.",
    ),
    (
        "Local boxer returns to the ring",
        "https://news.example/boxing",
        "The former champion steps back into the ring next month.",
    ),
]
WIRE_DUP = (
    "Met to use facial recognition vans on Croydon high street",
    "https://other.example/met-vans",
    "The Metropolitan Police will park live facial recognition cameras on the high street twice a week.",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/feed.xml", body=rss(ITEMS), headers={"Content-Type": "application/rss+xml"})
        db = f"sqlite:///{tmp_path / 'sg.db'}"
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "{db}"\n[slack]\npost_interval = 0.05\n'
            f'[[sources]]\nname = "Feed"\nurl = "{feeds.url("/feed.xml")}"\n'
        )
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "SPYGLASS_CONFIG": str(cfg),
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening(port, proc)
            yield {"slack": slack, "feeds": feeds, "port": port, "cfg": cfg, "db": tmp_path / "sg.db"}
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_subscribe_poll_alert_once_then_search(world: dict) -> None:
    slack: FakeSlack = world["slack"]
    port = world["port"]
    reply = command(port, slack, "subscribe face-recognition", channel="CFACE")
    assert reply["response_type"] == "in_channel" and "Face" in reply["text"]
    assert "subscribed" in command(port, slack, "subscribe alpr", channel="CPLATES")["text"]

    assert main(["poll", "--once"]) == 0
    face = slack.posts("CFACE", top_level=True)
    plates = slack.posts("CPLATES", top_level=True)
    assert len(face) == 1 and "https://news.example/frt-vans" in face[0]["text"]
    assert len(plates) == 1 and "https://news.example/anpr" in plates[0]["text"]
    assert not any("boxing" in p["text"] for p in slack.posts())
    assert face[0].get("unfurl_links") in (False, "false", "0", 0)

    # Second poll over unchanged feeds posts nothing.
    before = len(slack.posts())
    assert main(["poll", "--once"]) == 0
    assert len(slack.posts()) == before

    # A syndicated copy appears later: no new top-level alert, a thread reply instead.
    world["feeds"].route("/feed.xml", body=rss([*ITEMS, WIRE_DUP]))
    assert main(["poll", "--once"]) == 0
    assert len(slack.posts("CFACE", top_level=True)) == 1
    replies = slack.posts("CFACE", top_level=False)
    assert len(replies) == 1
    assert replies[0]["thread_ts"] == face[0]["_ts"]
    assert "other.example/met-vans" in replies[0]["text"]

    # Search answers through the response URL with the story's link.
    answer = command(port, slack, "search facial recognition vans", channel="CFACE")
    assert "news.example/frt-vans" in json.dumps(answer)


def test_unknown_topic_suggests_and_changes_nothing(world: dict) -> None:
    reply = command(world["port"], world["slack"], "subscribe face-recogniton drones", channel="CX")
    assert reply["response_type"] == "ephemeral" and "face-recognition" in reply["text"]
    assert "follows nothing" in command(world["port"], world["slack"], "list", channel="CX")["text"]


@pytest.mark.parametrize("text", ["", "frobnicate", "x" * 5000, "search", "subscribe", 'subscribe -"only"'])
def test_bad_input_gets_a_helpful_ephemeral_reply(world: dict, text: str) -> None:
    reply = command(world["port"], world["slack"], text, channel="CX")
    assert reply.get("response_type", "ephemeral") == "ephemeral" and reply["text"]


def test_wrong_signature_and_stale_requests_are_rejected(world: dict) -> None:
    assert slash(world["port"], "list", bad_signature=True)[0] == 401
    assert slash(world["port"], "list", ts=int(time.time()) - 3600)[0] == 401
    assert slash(world["port"], "list", secret="not-the-secret")[0] == 401


def test_keyword_subscription_with_exclusion(world: dict) -> None:
    slack: FakeSlack = world["slack"]
    assert (
        "subscribed"
        in command(world["port"], slack, 'subscribe "number plate" -"boxing"', channel="CKW")["text"]
    )
    assert main(["poll", "--once"]) == 0
    posts = slack.posts("CKW", top_level=True)
    assert len(posts) == 1 and "news.example/anpr" in posts[0]["text"]


def test_run_serves_slack_and_delivers_on_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`spyglass run`: one process answers slash commands and polls + delivers on its own."""
    from spyglass.config import load_settings
    from spyglass.service import build_services
    from spyglass.slack.commands import Caller, handle

    with FakeSlack() as slack, FeedServer() as feeds:
        feeds.route("/feed.xml", body=rss(ITEMS), headers={"Content-Type": "application/rss+xml"})
        cfg = tmp_path / "spyglass.toml"
        cfg.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n[slack]\npost_interval = 0.05\n'
            f'[[sources]]\nname = "Feed"\nurl = "{feeds.url("/feed.xml")}"\n'
        )
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}
        svc = build_services(load_settings(cfg, env=env))
        handle(svc, Caller("T1", "CFACE", "U1"), "subscribe face-recognition")
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "spyglass", "--config", str(cfg), "run"],
            env={**os.environ, **env, "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert slack.wait_for(lambda: slack.posts("CFACE", top_level=True), timeout=30)
            assert slack.wait_for(lambda: _answers(port), timeout=10)
            assert "Face recognition" in command(port, slack, "list", channel="CFACE")["text"]
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()[-2000:]
        posts = slack.posts("CFACE", top_level=True)
        assert len(posts) == 1 and "news.example/frt-vans" in posts[0]["text"]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_link_button_clicks_are_acknowledged(world: dict) -> None:
    """Slack sends an interaction for URL buttons too; an unacknowledged one shows the user a warning."""
    from support.slackreq import post_signed

    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "api_app_id": "A1",
        "token": "x",
        "container": {"type": "message"},
        "trigger_id": "1.2",
        "channel": {"id": "C1"},
        "actions": [
            {
                "action_id": "read_story",
                "block_id": "b",
                "type": "button",
                "action_ts": str(time.time()),
                "url": "https://news.example/frt-vans",
            }
        ],
        "response_url": world["slack"].response_url("btn"),
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    status, _ = post_signed(world["port"], body, "application/x-www-form-urlencoded")
    assert status == 200


def test_slacks_retry_of_a_handled_command_does_not_act_twice(world: dict) -> None:
    slack: FakeSlack = world["slack"]
    port = world["port"]
    assert (
        "subscribed this channel"
        in command(port, slack, "subscribe drones", channel="CRETRY", trigger_id="7.7")["text"]
    )
    # Slack thought the answer slow and sent the same command again: no second announcement.
    status, body = slash(
        port,
        "subscribe drones",
        channel="CRETRY",
        trigger_id="7.7",
        retry=1,
        response_url=slack.response_url("retry"),
    )
    assert status == 200 and body == ""
    assert slack.reply("retry", timeout=1.0) is None
    # A retry of a command this process never saw (the first attempt was lost) is handled.
    reply = command(port, slack, "subscribe cctv", channel="CRETRY", trigger_id="8.8", retry=1)
    assert "subscribed this channel" in reply["text"]
    listed = command(port, slack, "list", channel="CRETRY", trigger_id="9.9")["text"]
    assert "Drones" in listed and "CCTV" in listed.upper()


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process's long write transaction, as a second real connection to the same file."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_write_command_under_a_held_lock_is_acknowledged_and_changes_nothing(world: dict) -> None:
    slack: FakeSlack = world["slack"]
    port = world["port"]
    locker = _hold_write_lock(world["db"])
    try:
        # command() insists on an empty 200 first: it arrives while the lock is still held.
        reply = command(port, slack, "subscribe drones", channel="CLOCK")
        assert reply["response_type"] == "ephemeral"
        assert "busy" in reply["text"] and "nothing was changed" in reply["text"]
        # Unsubscribe is a write too (and resume, when there is something to resume).
        assert "busy" in command(port, slack, "unsubscribe all", channel="CLOCK")["text"]
    finally:
        locker.rollback()
        locker.close()
    # The user was told nothing changed, and nothing did: no late subscription, no announcement.
    assert "follows nothing" in command(port, slack, "list", channel="CLOCK")["text"]
    assert not [
        c
        for c in slack.calls("response_url")
        if c["args"].get("response_type") == "in_channel" and "CLOCK" in json.dumps(c["args"])
    ]
    assert "subscribed" in command(port, slack, "subscribe drones", channel="CLOCK")["text"]


def test_reads_answer_while_another_process_writes(world: dict) -> None:
    slack: FakeSlack = world["slack"]
    port = world["port"]
    assert "subscribed" in command(port, slack, "subscribe face-recognition", channel="CREAD")["text"]
    assert main(["poll", "--once"]) == 0
    locker = _hold_write_lock(world["db"])
    try:
        assert "Face recognition" in command(port, slack, "list", channel="CREAD")["text"]
        assert "news.example/frt-vans" in json.dumps(command(port, slack, "search facial recognition vans"))
        assert "face-recognition" in command(port, slack, "topics")["text"]
    finally:
        locker.rollback()
        locker.close()


def _event(port: int, event: dict, event_id: str) -> int:
    import urllib.request

    from support.slackreq import sign

    body = json.dumps(
        {
            "token": "x",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event": event,
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )
    ts = str(int(time.time()))
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(body, ts),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_health_check_and_common_events_are_answered(world: dict) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{world['port']}/healthz", timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"ok\n"
    assert (
        _event(
            world["port"], {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}, "Ev1"
        )
        == 200
    )
    assert (
        _event(world["port"], {"type": "member_joined_channel", "user": "U1", "channel": "C1"}, "Ev2") == 200
    )


def test_health_check_says_503_when_the_database_is_unreachable() -> None:
    from spyglass.config import Settings
    from spyglass.runtime import with_health
    from spyglass.service import Services
    from spyglass.store.db import open_store
    from spyglass.store.search import search_backend

    store = open_store(
        f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2", migrate=False
    )
    svc = Services(
        settings=Settings(config_path=Path("none.toml")), store=store, topics=[], search=search_backend(store)
    )
    seen: list[str] = []
    body = with_health(lambda *_: [b"slack"], svc)(
        {"PATH_INFO": "/healthz"}, lambda status, _h: seen.append(status)
    )
    assert seen == ["503 Service Unavailable"] and b"database unavailable" in b"".join(body)


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("facial recognition", "Face recognition"),
        ("face recognition", "Face recognition"),
        ("FRT", "Face recognition"),
        ("ANPR", "Number-plate readers"),
        ("licence plate readers", "Number-plate readers"),
        ("license plate readers", "Number-plate readers"),
        ("plate readers", "Number-plate readers"),
        ("stingray", "Cell-site simulators"),
        ("IMSI catchers", "Cell-site simulators"),
        ("bodycams", "Body-worn cameras"),
        ("Pegasus", "Spyware"),
        ("predictive policing", "Predictive policing"),
    ],
)
def test_topic_names_people_type(world: dict, typed: str, label: str) -> None:
    channel = "CN" + str(abs(hash(typed)) % 10**8)
    reply = command(world["port"], world["slack"], f"subscribe {typed}", channel=channel)
    assert "subscribed this channel" in reply["text"] and label in reply["text"], reply["text"]


def test_unknown_names_change_nothing_and_keywords_unsubscribe_without_quotes(world: dict) -> None:
    slack, port = world["slack"], world["port"]
    reply = command(port, slack, "subscribe facial recognition frobnicators", channel="CNAMES")
    assert "`frobnicators` is not a topic" in reply["text"]
    assert "follows nothing" in command(port, slack, "list", channel="CNAMES")["text"]
    assert "subscribed" in command(port, slack, 'subscribe "Palantir"', channel="CNAMES")["text"]
    reply = command(port, slack, "unsubscribe palantir", channel="CNAMES")
    assert "unsubscribed this channel from" in reply["text"] and "Palantir" in reply["text"]
    assert "follows nothing" in command(port, slack, "list", channel="CNAMES")["text"]


def test_listing_the_newest_stories_without_words(world: dict) -> None:
    slack, port = world["slack"], world["port"]
    assert main(["poll", "--once"]) == 0
    by_topic = json.dumps(command(port, slack, "search topic:face-recognition"))
    assert "news.example/frt-vans" in by_topic and "news.example/anpr" not in by_topic
    assert "1 story matches" in by_topic
    assert "news.example/anpr" in json.dumps(
        command(port, slack, "search topic:anpr")
    )  # a name, not only a slug
    recent = json.dumps(command(port, slack, "search since:7d"))
    assert "news.example/frt-vans" in recent and "news.example/anpr" in recent
    assert "news.example/anpr" in json.dumps(command(port, slack, "latest number plate readers"))
    everything = json.dumps(command(port, slack, "latest"))
    assert "news.example/frt-vans" in everything and "news.example/boxing" in everything
    unknown = command(port, slack, "search topic:nonexistent")
    assert "`nonexistent` is not a topic" in unknown["text"]


def test_resume_where_nothing_is_paused_and_editing_a_keywords_exclusions(world: dict) -> None:
    slack, port = world["slack"], world["port"]
    reply = command(port, slack, "resume", channel="CEDIT")
    assert reply["response_type"] == "ephemeral" and "nothing to resume" in reply["text"]
    assert "subscribed" in command(port, slack, 'subscribe "number plate"', channel="CEDIT")["text"]
    reply = command(port, slack, 'subscribe "number plate" -"boxing"', channel="CEDIT")
    assert "updated" in reply["text"] and reply["response_type"] == "in_channel"
    listed = command(port, slack, "list", channel="CEDIT")["text"]
    assert listed.count("number plate") == 1 and "boxing" in listed
    assert main(["poll", "--once"]) == 0
    posts = slack.posts("CEDIT", top_level=True)
    assert len(posts) == 1 and "news.example/anpr" in posts[0]["text"]


def test_subscribing_where_the_app_cannot_post_changes_nothing(world: dict) -> None:
    slack, port = world["slack"], world["port"]
    slack.private.update({"CPRIV", "CPRIVIN"})
    slack.member_of.add("CPRIVIN")
    reply = command(port, slack, "subscribe drones", channel="CPRIV")
    assert reply["response_type"] == "ephemeral" and "Invite it first" in reply["text"], reply["text"]
    assert "Nothing was changed" in reply["text"]
    assert "follows nothing" in command(port, slack, "list", channel="CPRIV")["text"]
    # Invited: fine. A public channel works without an invitation (chat:write.public).
    assert "subscribed" in command(port, slack, "subscribe drones", channel="CPRIVIN")["text"]
    assert "subscribed" in command(port, slack, "subscribe drones", channel="CPUBLIC")["text"]


def test_topics_reply_lists_every_topic_with_its_description_and_no_matcher_syntax(world: dict) -> None:
    reply = command(world["port"], world["slack"], "topics")
    text = reply["text"]
    assert "~" not in text and " =" not in text
    for slug in SHIPPED_TOPICS:
        assert f"`{slug}`" in text, slug
    assert "Rapid DNA, investigative genetic genealogy" in text  # descriptions, not only names
    assert all(len(b["text"]["text"]) <= 3000 for b in reply["blocks"])  # Slack's section limit


def test_a_same_outlet_republish_is_an_update_and_related_coverage_does_not_repeat_the_thread(
    world: dict,
) -> None:
    slack, port = world["slack"], world["port"]
    assert "subscribed" in command(port, slack, "subscribe face-recognition", channel="CUPD")["text"]
    republish = (
        "Police roll out live facial recognition vans in Croydon (updated)",
        "https://news.example/frt-vans-2",
        ITEMS[0][2],
    )
    world["feeds"].route("/feed.xml", body=rss([*ITEMS, WIRE_DUP, republish]))
    assert main(["poll", "--once"]) == 0
    [alert] = slack.posts("CUPD", top_level=True)
    replies = slack.posts("CUPD", top_level=False)
    texts = sorted(r["text"] for r in replies)
    assert len(replies) == 2, texts
    assert any(t.startswith("Updated by") and "frt-vans-2" in t for t in texts), texts
    assert any(t.startswith("Also covered by") and "met-vans" in t for t in texts), texts
    blocks = json.dumps(alert.get("blocks"))
    assert "met-vans" not in blocks and "frt-vans-2" not in blocks  # in the thread, so not again above it
