"""A stand-in Slack Web API on 127.0.0.1 for delivery throughput.

Answers ``auth.test`` and ``chat.postMessage``. With ``per_channel_interval`` set, it enforces
Slack's per-channel rate limit: a post to a channel less than that many seconds after the previous
accepted one gets HTTP 429 with ``Retry-After: 1`` (and is counted as ``limited``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "xoxb-bench-token"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = (
        512  # the default listen backlog of 5 drops SYNs under 16+ parallel connects (1 s retry)
    )


class BenchSlack:
    def __init__(self, per_channel_interval: float = 0.0) -> None:
        self.per_channel_interval = per_channel_interval
        self.posts: dict[str, list[float]] = {}
        self.limited = 0
        self._lock = threading.Lock()
        self._ts = 0
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                slack._handle(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BenchSlack:
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
        with self._lock:
            return sum(len(v) for v in self.posts.values())

    def _reply(
        self,
        req: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        method = req.path.rsplit("/", 1)[-1]
        if "json" in (req.headers.get("Content-Type") or ""):
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        if method == "auth.test":
            self._reply(req, 200, {"ok": True, "user_id": "UBENCH", "team_id": "TBENCH", "bot_id": "BBENCH"})
            return
        if method != "chat.postMessage":
            self._reply(req, 200, {"ok": False, "error": "unknown_method"})
            return
        channel = str(args.get("channel", ""))
        now = time.monotonic()
        with self._lock:
            times = self.posts.setdefault(channel, [])
            if self.per_channel_interval and times and now - times[-1] < self.per_channel_interval * 0.98:
                self.limited += 1
                limited = True
            else:
                limited = False
                times.append(now)
                self._ts += 1
                ts = f"{1_700_000_000 + self._ts}.{self._ts:06d}"
        if limited:
            self._reply(req, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
        else:
            self._reply(req, 200, {"ok": True, "channel": channel, "ts": ts})
