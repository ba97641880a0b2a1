"""A local feed server for the benchmark: fixed per-request latency, ETag/Last-Modified → 304.

Serves ``/feed/<i>.xml`` from a list of bodies on 127.0.0.1 only. Every request waits ``latency``
seconds before answering (a stand-in for the network round trip and the remote server's work);
a request carrying the current ETag (If-None-Match) or Last-Modified (If-Modified-Since) gets a
bodiless 304. Counts of 200s and 304s are kept so a benchmark can prove that nothing was re-sent.
"""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = (
        512  # the default listen backlog of 5 drops SYNs under 16+ parallel connects (1 s retry)
    )


class FeedServer:
    def __init__(self, bodies: list[bytes], latency: float = 0.0, host: str = "127.0.0.1") -> None:
        self.bodies = bodies
        self.latency = latency
        self.last_modified = formatdate(1_700_000_000, usegmt=True)
        self.ok = 0
        self.not_modified = 0
        self.other = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                srv._handle(self)

        self.server = _Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{i}.xml"

    @staticmethod
    def etag(i: int) -> str:
        return f'"feed-{i}-v1"'

    def reset_counts(self) -> None:
        with self._lock:
            self.ok = self.not_modified = self.other = 0

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if self.latency:
            time.sleep(self.latency)
        path = req.path.split("?", 1)[0]
        try:
            i = int(path.removeprefix("/feed/").removesuffix(".xml"))
            body = self.bodies[i]
        except (ValueError, IndexError):
            with self._lock:
                self.other += 1
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        etag = self.etag(i)
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        if (inm is not None and etag in inm) or (inm is None and ims == self.last_modified):
            with self._lock:
                self.not_modified += 1
            req.send_response(304)
            req.send_header("ETag", etag)
            req.send_header("Last-Modified", self.last_modified)
            req.end_headers()
            return
        with self._lock:
            self.ok += 1
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        req.send_header("Content-Length", str(len(body)))
        req.send_header("ETag", etag)
        req.send_header("Last-Modified", self.last_modified)
        req.end_headers()
        req.wfile.write(body)
