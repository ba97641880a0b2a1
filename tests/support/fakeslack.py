"""A stand-in for the Slack Web API on 127.0.0.1, for the project's own tests.

    with FakeSlack() as slack:
        slack.api_url            # give this to the app as SLACK_API_URL
        slack.calls("chat.postMessage")
        slack.fail_channel("CGONE", "channel_not_found")
        slack.rate_limit_once("CBUSY", retry_after=1)

It records every call (method, form or JSON arguments, the token), answers auth.test,
chat.postMessage, chat.postEphemeral, chat.update, views.publish, users.info (with `tz`),
users.conversations, the two-step file upload (files.getUploadURLExternal, a POST of the bytes to
/upload/<file id>, files.completeUploadExternal; the bytes are kept in `uploads`) and POSTs to
response URLs (/response/<id>), and can
answer 429 with Retry-After or a channel error. It keeps the messages it accepted (with their
metadata) and answers conversations.history and conversations.replies from them; it can accept a
post and then drop the connection without answering (`lose_answers`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog of 5 drops SYNs when 20 channels post at once


class FakeSlack:
    def __init__(self, per_channel_interval: float = 0.0) -> None:
        # Slack's per-channel rate limit, when set: a post sooner than this after the channel's
        # last accepted one gets 429 with Retry-After: 1 (counted in `limited`).
        self.per_channel_interval = per_channel_interval
        self.limited = 0
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._errors: dict[str, str] = {}
        self._rate_limits: dict[str, int] = {}
        self._html: set[str] = set()  # channels whose posts get an HTML page with status 200
        self._lose: dict[str, list[bool]] = {}  # channel -> for each next post: was it made? (then no answer)
        self._history_error = ""  # what conversations.history/replies answer instead (e.g. missing_scope)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> accepted messages, oldest first
        self.socket_url = ""  # what apps.connections.open hands out (Socket Mode)
        # conversations.info: channels are public and the app not in them, unless listed here.
        self.private: set[str] = set()
        self.member_of: set[str] = set()
        self.admins: set[str] = set()  # users.info says these users are workspace admins
        self.timezones: dict[str, str] = {}  # users.info `tz` per user
        self.user_channels: dict[str, list[str]] = {}  # users.conversations per user
        self.uploads: dict[str, bytes] = {}
        self._method_errors: dict[str, str] = {}  # file id -> the bytes POSTed to its upload URL
        self._ts = 0
        self.latency = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---------------------------------------------------------------- control
    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def total(self) -> int:
        """Messages accepted, over all channels."""
        with self._lock:
            return sum(len(v) for v in self.messages.values())

    def response_url(self, rid: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{rid}"

    def fail_channel(self, channel: str, error: str) -> None:
        if error:
            self._errors[channel] = error
        else:  # the channel works again (the app was invited back)
            self._errors.pop(channel, None)

    def answer_html(self, channel: str) -> None:
        """Posts to `channel` get `200 text/html` (a proxy's or load balancer's page), not Slack's JSON."""
        self._html.add(channel)

    def lose_answers(self, channel: str, times: int = 1, *, posted: bool = True) -> None:
        """The next `times` posts to `channel` get no answer: the connection closes after the message
        was made (`posted`), or before (a request lost on the way in)."""
        self._lose[channel] = [posted] * times

    def fail_method(self, method: str, error: str) -> None:
        """Every call of ``method`` (e.g. files.getUploadURLExternal) answers this error."""
        self._method_errors[method] = error

    def deny_history(self, error: str = "missing_scope") -> None:
        self._history_error = error

    def rate_limit_once(self, channel: str, times: int = 1) -> None:
        self._rate_limits[channel] = times

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self._calls if method is None or c["method"] == method]

    def posts(self, channel: str | None = None, *, top_level: bool | None = None) -> list[dict[str, Any]]:
        out = []
        for c in self.calls("chat.postMessage"):
            a = c["args"]
            if not c["ok"] or (channel and a.get("channel") != channel):
                continue
            if top_level is not None and bool(a.get("thread_ts")) == top_level:
                continue
            out.append({**a, "_ts": c["ts"]})
        return out

    def reply(self, rid: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """What the app POSTed to response_url(rid), waiting for it; None if nothing came."""
        path = f"/response/{rid}"
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = [c["args"] for c in self.calls("response_url") if c["path"] == path]
            return bool(found)

        return found[-1] if self.wait_for(arrived, timeout) else None

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    # ---------------------------------------------------------------- serving
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if len(raw) < length:  # the client died mid-request (SIGKILL): Slack never sees half a request
            h.close_connection = True
            return
        ctype = h.headers.get("Content-Type", "")
        if h.path.startswith("/upload/"):  # the file's bytes, as files.getUploadURLExternal's URL takes them
            with self._lock:
                self.uploads[h.path.removeprefix("/upload/")] = raw
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"OK")
            return
        args: dict[str, Any]
        if "json" in ctype:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        path = urllib.parse.urlparse(h.path).path
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else str(args.get("token", ""))
        if self.latency:
            time.sleep(self.latency)
        if path.startswith("/response/"):
            status, body, headers = 200, {"ok": True}, dict[str, str]()
            method = "response_url"

        else:
            method = path.removeprefix("/api/")
            status, body, headers = self._answer(method, args, token)
        with self._lock:
            self._calls.append(
                {
                    "method": method,
                    "path": path,
                    "args": args,
                    "ok": body.get("ok"),
                    "error": body.get("error"),
                    "status": status,
                    "at": time.time(),
                    "ts": body.get("ts"),
                }
            )
        data = json.dumps(body).encode()
        ctype = "application/json"
        if headers.pop("X-Fake-Lost", ""):
            with self._lock:
                self._calls[-1]["lost"] = True
            h.close_connection = True
            return  # no answer at all; the poster cannot know whether the message was made
        if method == "chat.postMessage" and args.get("channel") in self._html:
            data, ctype, status = b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", 200
            with self._lock:
                self._calls[-1].update(ok=None, error="html")
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "apps.connections.open":
            if token != APP_TOKEN:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if token != TOKEN:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method in self._method_errors:
            return 200, {"ok": False, "error": self._method_errors[method]}, {}
        if method == "auth.test":
            return 200, {"ok": True, "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT", "team": "Test"}, {}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            return self._post(method, args)
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, args)
        if method in ("users.info", "conversations.info", "users.conversations"):
            return self._info(method, args)
        if method in ("chat.update", "views.publish"):
            return self._update(method, args)
        if method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
            return self._files(method, args)
        return 200, {"ok": False, "error": "unknown_method"}, {}

    def _post(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(args.get("channel", ""))
        if channel in self._errors:
            return 200, {"ok": False, "error": self._errors[channel]}, {}
        with self._lock:
            if self._rate_limits.get(channel, 0) > 0:
                self._rate_limits[channel] -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            now = time.monotonic()
            last = self._last_post.get(channel)
            if (
                self.per_channel_interval
                and last is not None
                and now - last < self.per_channel_interval * 0.98
            ):
                self.limited += 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            if method == "chat.postMessage":
                self._last_post[channel] = now
            lose = self._lose.get(channel) if method == "chat.postMessage" else None
            drop = bool(lose)
            made = lose.pop(0) if lose else True
            lost = {"X-Fake-Lost": "1"} if drop else {}
            if not made:
                return 200, {"ok": False, "error": "lost on the way in"}, lost
            self._ts += 1
            ts = f"{int(time.time())}.{self._ts:06d}"
            if method == "chat.postMessage":
                meta = args.get("metadata")
                self.messages.setdefault(channel, []).append(
                    {
                        "ts": ts,
                        "text": args.get("text", ""),
                        "thread_ts": args.get("thread_ts"),
                        "blocks": args.get("blocks"),
                        "metadata": json.loads(meta) if isinstance(meta, str) else meta,
                    }
                )
        return 200, {"ok": True, "channel": channel, "ts": ts}, lost

    def _update(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "views.publish":
            view = args.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            return 200, {"ok": True, "view": {"id": "V1", **(view or {})}}, {}
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        with self._lock:
            found = [m for m in self.messages.get(channel, []) if m["ts"] == ts]
            if not found:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            found[0]["text"] = args.get("text", found[0]["text"])
            found[0]["blocks"] = args.get("blocks")
        return 200, {"ok": True, "channel": channel, "ts": ts}, {}

    def _files(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "files.getUploadURLExternal":
            with self._lock:
                self._ts += 1
                fid = f"F{self._ts:08d}"
            return (
                200,
                {"ok": True, "file_id": fid, "upload_url": f"http://127.0.0.1:{self.port}/upload/{fid}"},
                {},
            )
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        with self._lock:
            missing = [f["id"] for f in files if f.get("id") not in self.uploads]
        if missing or not files:
            return 200, {"ok": False, "error": "file_not_found"}, {}
        return 200, {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}, {}

    def _info(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "users.info":
            user = str(args.get("user", ""))
            info: dict[str, Any] = {"id": user, "is_admin": user in self.admins}
            if user in self.timezones:
                info["tz"] = self.timezones[user]
            return 200, {"ok": True, "user": info}, {}
        if method == "users.conversations":
            chans = self.user_channels.get(str(args.get("user", "")), [])
            return 200, {"ok": True, "channels": [{"id": c} for c in chans], "response_metadata": {}}, {}
        channel = str(args.get("channel", ""))
        if channel in self.private and channel not in self.member_of:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        return (
            200,
            {
                "ok": True,
                "channel": {
                    "id": channel,
                    "is_private": channel in self.private,
                    "is_member": channel in self.member_of,
                    "is_archived": False,
                },
            },
            {},
        )

    def _history(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self._history_error:
            return 200, {"ok": False, "error": self._history_error}, {}
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 9e12)
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            msgs = list(self.messages.get(str(args.get("channel")), []))
        if method == "conversations.history":  # top-level messages, newest first
            msgs = [m for m in reversed(msgs) if not m["thread_ts"]]
        else:  # one thread, oldest first
            msgs = [m for m in msgs if m["thread_ts"] == args.get("ts")]
        msgs = [m for m in msgs if oldest <= float(m["ts"]) <= latest][: int(args.get("limit") or 100)]
        out = [
            {
                "ts": m["ts"],
                "text": m["text"],
                **({"metadata": m["metadata"]} if with_meta and m["metadata"] else {}),
            }
            for m in msgs
        ]
        return 200, {"ok": True, "messages": out, "has_more": False}, {}
