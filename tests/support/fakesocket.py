"""A stand-in for Slack's Socket Mode websocket on 127.0.0.1, for the project's own tests.

    with FakeSocket() as ws:
        slack.socket_url = ws.url            # what apps.connections.open hands out
        ws.wait_connected()
        ws.send_command({"text": "list", ...})   # a slash command envelope; returns its envelope_id
        ws.acks                              # envelope ids the app acknowledged
        ws.freeze()                          # a silent drop: bytes stop flowing, nothing is closed

It says `hello` to each new connection, as Slack does, and answers pings (the websockets library
does). Connections go through a small TCP relay, so that `freeze` can stop the bytes of the
current connections without either side seeing a close; connections made after it flow again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from typing import Any

from websockets.sync.server import ServerConnection, serve


class FakeSocket:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: list[ServerConnection] = []
        self.acks: list[str] = []
        self.connections = 0  # websocket connections accepted so far
        self._ids = itertools.count(1)
        self._server = serve(self._session, "127.0.0.1", 0)
        self._ws_port = self._server.socket.getsockname()[1]
        self._relay = socket.create_server(("127.0.0.1", 0))
        self.port = self._relay.getsockname()[1]
        self._frozen: list[socket.socket] = []
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=test"

    def __enter__(self) -> FakeSocket:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._relay.close()
        for a, b in self._pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
        self._server.shutdown()

    # ---------------------------------------------------------------- what tests call
    def wait_connected(self, count: int = 1, timeout: float = 15.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            with self._lock:
                if self.connections >= count and self._conns:
                    return True
            time.sleep(0.05)
        return False

    def send_command(self, payload: dict[str, Any]) -> str:
        """Deliver a slash command on the newest connection; returns its envelope id."""
        envelope = f"env-{next(self._ids)}"
        with self._lock:
            conn = self._conns[-1]
        conn.send(
            json.dumps(
                {
                    "envelope_id": envelope,
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": payload,
                }
            )
        )
        return envelope

    def wait_ack(self, envelope: str, timeout: float = 10.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            with self._lock:
                if envelope in self.acks:
                    return True
            time.sleep(0.05)
        return False

    def freeze(self) -> None:
        """Stop relaying bytes on every open connection, silently, as a dead NAT or cable would."""
        with self._lock:
            self._frozen.extend(s for pair in self._pairs for s in pair)
            self._conns.clear()

    # ---------------------------------------------------------------- serving
    def _session(self, conn: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            self._conns.append(conn)
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake"},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        try:
            for raw in conn:
                msg = json.loads(raw)
                if "envelope_id" in msg:
                    with self._lock:
                        self.acks.append(str(msg["envelope_id"]))
        except Exception:  # noqa: BLE001 - the app went away or the test is ending
            pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._relay.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._ws_port))
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                frozen = src in self._frozen
            if frozen:  # swallow: neither end hears anything, neither end sees a close
                continue
            try:
                dst.sendall(data)
            except OSError:
                return
