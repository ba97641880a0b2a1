"""Signed Slack requests, as Slack sends them (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SECRET = "test-signing-secret-0123456789abcdef"
_RIDS = itertools.count(1)


def sign(body: str, ts: str, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def slash(
    port: int,
    text: str,
    *,
    channel: str = "C1",
    user: str = "U1",
    response_url: str = "",
    secret: str = SECRET,
    ts: int | None = None,
    bad_signature: bool = False,
    trigger_id: str = "1.2",
    retry: int | None = None,
) -> tuple[int, str]:
    form = {
        "token": "x",
        "team_id": "T1",
        "team_domain": "t",
        "channel_id": channel,
        "channel_name": "news",
        "user_id": user,
        "user_name": "ada",
        "command": "/spyglass",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url or "http://127.0.0.1:9/response/none",
        "trigger_id": trigger_id,
    }
    body = urllib.parse.urlencode(form)
    retried = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "timeout"} if retry else {}
    return post_signed(
        port,
        body,
        "application/x-www-form-urlencoded",
        stamp=ts,
        secret=secret,
        bad_signature=bad_signature,
        headers=retried,
    )


def post_signed(
    port: int,
    body: str,
    content_type: str,
    *,
    stamp: int | None = None,
    secret: str = SECRET,
    bad_signature: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST ``body`` to the app's /slack/events, signed as Slack signs it; (status, body)."""
    when = str(stamp if stamp is not None else int(time.time()))
    sig = sign(body, when, secret)
    if bad_signature:
        sig = sig[:-4] + "0000"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": when,
            "X-Slack-Signature": sig,
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def click(
    port: int,
    slack: Any,
    action: dict[str, Any],
    *,
    user: str = "U1",
    channel: str = "C1",
    message: dict[str, Any] | None = None,
) -> str:
    """A block_actions interaction, as Slack sends it when someone clicks a button or picks from a
    menu on ``message`` (a message the stand-in accepted: its ts, text and blocks). Returns the id
    whose response URL the app may answer at (`slack.reply(rid)`)."""
    rid = f"act{next(_RIDS)}"
    msg = message or {}
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": msg.get("ts", ""), "channel_id": channel},
        "channel": {"id": channel},
        "message": {
            "type": "message",
            "ts": msg.get("ts", ""),
            "text": msg.get("text", ""),
            "blocks": msg.get("blocks") or [],
        },
        "response_url": slack.response_url(rid),
        "trigger_id": f"{next(_RIDS)}.trigger",
        "actions": [{"block_id": "b1", "action_ts": str(time.time()), **action}],
    }
    status, body = post_signed(
        port, urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    )
    assert status == 200, (status, body)
    return rid


def event(port: int, inner: dict[str, Any]) -> None:
    """An Events API callback (e.g. app_home_opened), signed."""
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{next(_RIDS)}",
            "event_time": int(time.time()),
            "event": inner,
        }
    )
    status, text = post_signed(port, body, "application/json")
    assert status == 200, (status, text)


def command(port: int, slack: Any, text: str, **kw: Any) -> dict[str, Any]:
    """Send a slash command the way Slack does and return the app's answer.

    The app must acknowledge with an empty 200 (Slack's 3 s deadline) and then POST its answer to the
    command's response_url, which `slack` (a FakeSlack) records."""
    rid = f"cmd{next(_RIDS)}"
    status, body = slash(port, text, response_url=slack.response_url(rid), **kw)
    assert status == 200, (status, body)
    assert body == "", f"expected an empty acknowledgement, got {body[:200]!r}"
    answer = slack.reply(rid)
    assert answer is not None, f"no answer to {text!r} reached its response_url"
    return dict(answer)


def wait_listening(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 10.0) -> None:
    """Until something accepts connections on 127.0.0.1:port; fails at once if ``proc`` died first."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"the server died: {out!r}") from None
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on port {port} after {timeout} s")
