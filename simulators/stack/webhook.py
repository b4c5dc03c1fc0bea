"""A small Alertmanager webhook receiver for tests and benchmarks.

Records every POST (path, parsed JSON body, monotonic receipt time) so a test can wait for
and count notifications. Runs an HTTP server on a free loopback port in a thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Notification:
    path: str  # e.g. "/page/north-oncall"
    body: dict[str, Any]
    received_at: float  # time.monotonic()

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.body.get("alerts", []))

    @property
    def group_labels(self) -> dict[str, str]:
        return dict(self.body.get("groupLabels", {}))


@dataclass
class WebhookReceiver:
    """``with WebhookReceiver() as hook:`` then point Alertmanager at ``hook.url``."""

    host: str = "127.0.0.1"
    # Called in the server thread with each notification before the reply, e.g. to kill the
    # sender between its post and its bookkeeping (the Alertmanager HA drill).
    before_reply: Callable[[Notification], None] | None = None
    _received: list[Notification] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                now = time.monotonic()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                notification = Notification(self.path, body, now)
                with receiver._lock:
                    receiver._received.append(notification)
                if receiver.before_reply is not None:
                    receiver.before_reply(notification)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender went away (killed by before_reply): nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; the notifications are the record

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "receiver not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def received(
        self, predicate: Callable[[Notification], bool] | None = None
    ) -> list[Notification]:
        with self._lock:
            items = list(self._received)
        return [n for n in items if predicate is None or predicate(n)]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
