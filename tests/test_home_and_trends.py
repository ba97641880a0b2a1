"""The App Home tab and trends, through the real app: a signed app_home_opened event and
`/spyglass trends` to `spyglass serve`, the stand-in Slack recording views.publish and the two-step
file upload, and `spyglass trends --out` from the CLI. The chart is judged as a PNG by its own
header (signature, IHDR size), not by the code that drew it."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spyglass.cli import main
from support.blockkit import block_kit_problems
from support.feeds import distinct_story
from support.slackreq import event
from support.world import World, feed, serve_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from serve_world(tmp_path, monkeypatch, "")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    chunk = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + chunk) == crc, "corrupt IHDR"
    assert data.endswith(b"IEND\xaeB`\x82"), "truncated PNG"
    width, height = struct.unpack(">II", chunk[:8])
    return width, height


def _with_alerts(world: World, n: int = 3) -> None:
    world.say("subscribe face-recognition")
    world.say('subscribe "Clearview AI"', channel="CKEY")
    items = [distinct_story(i, "home") for i in range(n)]
    world.feeds.route("/config.xml", feed([(it, 60 * (i + 1)) for i, it in enumerate(items)]))
    assert world.poll() == 0


def _published(world: World) -> list[dict[str, Any]]:
    return [c["args"] for c in world.slack.calls("views.publish") if c["ok"]]


def test_the_home_tab_shows_the_persons_channels_their_choices_and_the_latest_alerts(world: World) -> None:
    _with_alerts(world)
    world.say("digest weekly mon 08:00 tz=UTC", channel="CKEY")
    world.slack.user_channels["UIVY1"] = ["CNEWS", "CKEY", "CQUIET"]  # CQUIET: Spyglass posts nothing there
    event(world.port, {"type": "app_home_opened", "user": "UIVY1", "channel": "D1", "tab": "home"})
    assert world.slack.wait_for(lambda: _published(world))
    args = _published(world)[-1]
    assert args["user_id"] == "UIVY1"
    view = args["view"]
    view = view if isinstance(view, dict) else __import__("json").loads(view)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert block_kit_problems(view["blocks"]) == []
    text = str(view["blocks"])
    assert "<#CNEWS> — Face recognition" in text
    assert "<#CKEY> — “Clearview AI”" in text and "weekly digest on Mon at 08:00 (UTC)" in text
    assert "CQUIET" not in text
    assert text.count("news.example/home/") == 3  # the latest alerts
    assert "all 1 are being read without errors" in text


def test_a_failing_source_shows_on_the_home_tab(world: World) -> None:
    _with_alerts(world, 1)
    world.feeds.route("/config.xml", b"Server on fire", status=500)
    world.rows("UPDATE sources SET next_attempt_at = NULL, etag = NULL, last_modified = NULL")
    world.poll()
    world.slack.user_channels["UJON1"] = ["CNEWS"]
    event(world.port, {"type": "app_home_opened", "user": "UJON1", "channel": "D1", "tab": "home"})
    assert world.slack.wait_for(lambda: _published(world))
    text = str(_published(world)[-1]["view"])
    assert "Sources with problems" in text and "Config Feed" in text and "500" in text


def test_slash_trends_uploads_a_chart_and_answers_with_the_numbers(world: World) -> None:
    _with_alerts(world)
    answer = world.say("trends weeks=8")
    assert "The chart is posted in this channel" in answer
    lines = [line for line in answer.splitlines() if line[:2] == "20"]
    assert len(lines) == 8 and lines[-1].split()[-1] == "3"  # this week: the three stories
    (done,) = [c for c in world.slack.calls("files.completeUploadExternal") if c["ok"]]
    assert done["args"]["channel_id"] == "CNEWS" and "trends" in done["args"]["initial_comment"]
    (data,) = world.slack.uploads.values()
    assert png_size(data) == (1000, 500)


def test_without_files_write_trends_gives_the_numbers_and_says_why(world: World) -> None:
    _with_alerts(world)
    world.slack.fail_method("files.getUploadURLExternal", "missing_scope")
    answer = world.say("trends face-recognition")
    assert "could not post the chart here (Slack said `missing_scope`)" in answer
    assert "Face recognition" in answer and world.slack.uploads == {}


def test_trends_of_an_unknown_topic_is_explained(world: World) -> None:
    assert "is not a topic" in world.say("trends teleportation")
    assert "takes a number from 1 to 104" in world.say("trends weeks=0")


def test_the_cli_writes_the_same_chart(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_alerts(world)
    out = tmp_path / "trends.png"
    assert main(["--config", str(world.cfg), "trends", "face-recognition", "drones", "--out", str(out)]) == 0
    assert png_size(out.read_bytes()) == (1000, 500)
    capsys.readouterr()
    assert main(["--config", str(world.cfg), "trends", "--weeks", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "Face recognition" in table[0] and len(table) == 4 and table[-1].split()[1] == "3"
    assert main(["--config", str(world.cfg), "trends", "--weeks", "500"]) == 2


def test_the_cli_shows_a_past_period(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    _with_alerts(world)
    capsys.readouterr()
    assert (
        main(
            [
                "--config",
                str(world.cfg),
                "trends",
                "face-recognition",
                "--until",
                "2020-01-31",
                "--weeks",
                "2",
            ]
        )
        == 0
    )
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["2020-01-20", "2020-01-27"] and all(
        r.split()[-1] == "0" for r in rows
    )
    assert main(["--config", str(world.cfg), "trends", "--until", "last tuesday"]) == 2
