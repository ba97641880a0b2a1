"""Feedback on alerts, "more like this" and sharing, through the real app: alerts posted by
`spyglass poll --once` to the stand-in Slack, then signed block_actions payloads (as Slack sends a
click) to `spyglass serve`, and `spyglass feedback` as the CLI prints it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spyglass.cli import main
from support.blockkit import block_kit_problems
from support.feeds import distinct_story
from support.slackreq import click
from support.world import World, feed, serve_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from serve_world(tmp_path, monkeypatch, "")


def _alerts(world: World, n: int = 3) -> list[dict[str, Any]]:
    assert "subscribed" in world.say("subscribe face-recognition")
    items = [distinct_story(i, "fb") for i in range(n)]
    world.feeds.route("/config.xml", feed([(it, 60 * (i + 1)) for i, it in enumerate(items)]))
    assert world.poll() == 0
    posts = world.slack.posts("CNEWS", top_level=True)
    assert len(posts) == n
    return [m for m in world.slack.messages["CNEWS"]]


def _element(message: dict[str, Any], kind: str) -> dict[str, Any]:
    for block in message["blocks"]:
        for el in block.get("elements") or []:
            if el.get("type") == kind or el.get("action_id") == kind:
                return dict(el)
    raise AssertionError(f"no {kind} in {message['blocks']}")


def press(
    world: World, message: dict[str, Any], action: str, value: str, *, user: str, channel: str = "CNEWS"
) -> str:
    """A click on one of ``message``'s buttons, as Slack sends it; the id of its response URL."""
    button = {"action_id": action, "type": "button", "value": value}
    return click(world.port, world.slack, button, user=user, channel=channel, message=message)


def choose(world: World, message: dict[str, Any], value: str, *, user: str) -> str:
    """A choice from an alert's overflow menu."""
    picked = {"action_id": "alert_menu", "type": "overflow", "selected_option": {"value": value}}
    return click(world.port, world.slack, picked, user=user, channel="CNEWS", message=message)


def _updates(world: World) -> list[dict[str, Any]]:
    return [c["args"] for c in world.slack.calls("chat.update") if c["ok"]]


def test_every_alert_can_be_rated_and_the_rating_is_acknowledged_in_place(world: World) -> None:
    first = _alerts(world)[0]
    assert block_kit_problems(first["blocks"]) == []
    up = _element(first, "feedback_up")
    rid = press(world, first, "feedback_up", up["value"], user="UANN1")
    assert world.slack.wait_for(lambda: _updates(world))
    update = _updates(world)[-1]
    assert update["channel"] == "CNEWS" and update["ts"] == first["ts"]
    blocks = update["blocks"] if isinstance(update["blocks"], list) else []
    assert block_kit_problems(blocks) == []
    note = [b for b in blocks if b.get("block_id") == "spyglass_feedback"]
    assert (
        len(note) == 1
        and "👍 1" in note[0]["elements"][0]["text"]
        and "<@UANN1>" in note[0]["elements"][0]["text"]
    )
    assert first["text"] == update["text"]  # the alert itself is unchanged
    assert world.slack.reply(rid, timeout=0.5) is None  # nothing private to say
    assert world.rows("SELECT user_id, value, channel_id FROM feedback") == [("UANN1", 1, "CNEWS")]


def test_a_second_click_changes_the_rating_and_wrong_topic_names_the_topic(world: World) -> None:
    first = _alerts(world)[0]
    did = _element(first, "feedback_down")["value"]
    press(world, first, "feedback_down", did, user="UBEN1")
    press(world, first, "feedback_up", did, user="UCAT1")
    assert world.slack.wait_for(lambda: len(_updates(world)) == 2)
    menu = _element(first, "overflow")
    wrong = next(o["value"] for o in menu["options"] if o["text"]["text"].startswith("Wrong topic"))
    choose(world, first, wrong, user="UBEN1")
    assert world.slack.wait_for(lambda: len(_updates(world)) == 3)
    assert sorted(world.rows("SELECT user_id, value, wrong_topic FROM feedback")) == [
        ("UBEN1", -1, "Face recognition"),
        ("UCAT1", 1, None),
    ]
    text = str(_updates(world)[-1]["blocks"])
    assert "👍 1" in text and "👎 1" in text and "wrong topic: Face recognition" in text


def test_a_button_copied_to_another_channel_rates_nothing(world: World) -> None:
    first = _alerts(world, 1)[0]
    did = _element(first, "feedback_up")["value"]
    rid = press(world, first, "feedback_up", did, user="UDAN1", channel="COTHER")
    answer = world.slack.reply(rid)
    assert answer is not None and "no longer in Spyglass's history" in answer["text"]
    assert world.rows("SELECT count(*) FROM feedback") == [(0,)]


def test_spyglass_feedback_shows_the_phrases_that_draw_thumbs_down(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts = _alerts(world)
    for i, (msg, user) in enumerate(zip(alerts, ["UEVE1", "UFAY1", "UGUS1"], strict=True)):
        action = "feedback_down" if i < 2 else "feedback_up"
        press(world, msg, action, _element(msg, action)["value"], user=user)
    assert world.slack.wait_for(lambda: len(_updates(world)) == 3)
    capsys.readouterr()
    assert main(["--config", str(world.cfg), "feedback", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("Face recognition"))
    assert row.split()[2:8] == ["3", "3", "1", "2", "67%", "0"]  # alerts, rated, 👍, 👎, 👎 rate, wrong
    worst = out.split("Worst phrases", 1)[1]
    assert "live facial recognition" in worst.lower()
    # A 👎 removes nothing.
    assert world.rows("SELECT count(*) FROM stories") == [(3,)]
    assert world.rows("SELECT count(*) FROM deliveries WHERE status = 'sent'") == [(3,)]


def test_more_like_this_answers_privately_and_sharing_posts_to_the_channel(world: World) -> None:
    first = _alerts(world)[0]
    menu = _element(first, "overflow")
    more = next(o["value"] for o in menu["options"] if o["text"]["text"] == "More like this")
    rid = choose(world, first, more, user="UHAL1")
    answer = world.slack.reply(rid)
    assert answer is not None and answer["response_type"] == "ephemeral"
    assert block_kit_problems(answer["blocks"]) == []
    listed = str(answer["blocks"])
    others = [m["text"] for m in world.slack.messages["CNEWS"][1:]]
    assert "news.example/fb/1" in listed and "news.example/fb/2" in listed  # the other two stories
    assert "news.example/fb/0" not in listed, others  # not the alert's own story
    share = _element(answer, "share_search")
    rid2 = press(world, {"ts": "", "blocks": answer["blocks"]}, "share_search", share["value"], user="UHAL1")
    shared = world.slack.reply(rid2)
    assert shared is not None and shared["response_type"] == "in_channel"
    assert "Shared by <@UHAL1>" in str(shared["blocks"]) and "news.example/fb/1" in str(shared["blocks"])
    assert "share_search" not in str(shared["blocks"])  # the shared copy has no Share button
