"""``/metrics`` and ``/healthz`` on a small threaded HTTP server (stoppable, for tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from collector.store.db import StoreError

Health = Callable[[], tuple[bool, Mapping[str, Any]]]


class HttpServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        body, ctype, code = (
                            generate_latest(outer.registry),
                            CONTENT_TYPE_LATEST,
                            200,
                        )
                    except StoreError as exc:
                        # A failed scrape (up == 0), never a partial one: see FleetCollector.
                        body, ctype, code = f"{exc}\n".encode(), "text/plain", 503
                elif path == "/healthz":
                    ok, detail = outer.health()
                    body = json.dumps({"ok": ok, **detail}, default=str).encode()
                    ctype, code = "application/json", 200 if ok else 503
                else:
                    body, ctype, code = b"not found: try /metrics or /healthz\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the log

        self.registry = registry
        self.health = health
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
