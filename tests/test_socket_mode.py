"""Socket Mode, whole process: `spyglass serve` with SLACK_APP_TOKEN against a stand-in Slack Web API
(tests/support/fakeslack.py, which hands out the websocket URL) and websocket (tests/support/fakesocket.py).

Start-up problems are one line and exit code 2; a silently dropped connection is replaced within
about ten seconds (the SDK's defaults took about a minute).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fakeslack import APP_TOKEN, TOKEN, FakeSlack
from support.fakesocket import FakeSocket


def _env(tmp_path: Path, slack: FakeSlack, app_token: str = APP_TOKEN) -> dict[str, str]:
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "sg.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return {
        **env,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": app_token,
        "SLACK_API_URL": slack.api_url,
        "SPYGLASS_CONFIG": str(cfg),
    }


def _serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spyglass", "serve"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _command(text: str, slack: FakeSlack, rid: str) -> dict[str, str]:
    return {
        "token": "x",
        "team_id": "T1",
        "team_domain": "t",
        "channel_id": "CSOCK",
        "channel_name": "news",
        "user_id": "U1",
        "user_name": "ada",
        "command": "/spyglass",
        "text": text,
        "api_app_id": "A1",
        "response_url": slack.response_url(rid),
        "trigger_id": f"trig-{rid}",
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeSlack, FakeSocket, subprocess.Popen[str]]]:
    with FakeSlack() as slack, FakeSocket() as ws:
        slack.socket_url = ws.url
        proc = _serve(_env(tmp_path, slack))
        try:
            assert ws.wait_connected(), "the app never opened the websocket"
            yield slack, ws, proc
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
            assert "Traceback" not in err, err[-3000:]


def test_a_command_over_socket_mode_is_acknowledged_and_answered(
    served: tuple[FakeSlack, FakeSocket, subprocess.Popen[str]],
) -> None:
    slack, ws, _ = served
    envelope = ws.send_command(_command("subscribe drones", slack, "s1"))
    assert ws.wait_ack(envelope)
    reply = slack.reply("s1")
    assert reply is not None and "subscribed this channel" in str(reply.get("text"))


def test_a_silent_drop_is_noticed_and_replaced_quickly(
    served: tuple[FakeSlack, FakeSocket, subprocess.Popen[str]],
) -> None:
    slack, ws, _ = served
    opened = len(slack.calls("apps.connections.open"))
    ws.freeze()  # no close, no reset: the bytes just stop
    dropped_at = time.monotonic()
    assert ws.wait_connected(count=2, timeout=30), "the dropped connection was never replaced"
    noticed = time.monotonic() - dropped_at
    assert noticed < 20, f"took {noticed:.0f} s to replace a dead connection"
    assert len(slack.calls("apps.connections.open")) == opened + 1
    envelope = ws.send_command(_command("list", slack, "s2"))
    assert ws.wait_ack(envelope)
    reply = slack.reply("s2")
    assert reply is not None and "follows" in str(reply.get("text"))


def test_a_rejected_app_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        proc = _serve(_env(tmp_path, slack, app_token="xapp-revoked"))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert "Slack rejected SLACK_APP_TOKEN: invalid_auth" in err and "connections:write" in err
    assert len(err.strip().splitlines()) == 1, err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_websocket_is_named_as_such(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.socket_url = f"ws://127.0.0.1:{_closed_port()}/link/?ticket=secret-ticket"
        proc = _serve(_env(tmp_path, slack))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "cannot listen on port" not in err
    assert "cannot open Slack's Socket Mode websocket" in err and "refused" in err.lower(), err
    assert "secret-ticket" not in err  # the websocket URL's ticket is a credential
    assert len(err.strip().splitlines()) == 1, err
