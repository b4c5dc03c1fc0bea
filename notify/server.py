"""The relay's HTTP side: Alertmanager's webhook, ack links, /metrics and /healthz.

``POST /alertmanager`` answers 200 only after the notification is in the spool (fsynced),
so Alertmanager retries whatever we could not store; a retry of something already stored
is answered 200 and not stored twice.
"""

from __future__ import annotations

import html
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from notify.ack import AckClaim, check_token
from notify.audit import AuditLog
from notify.config import Config
from notify.metrics import NotifyMetrics
from notify.oncall import OnCallDirectory, StoreAck
from notify.payload import MAX_BODY_BYTES, Rejected, parse
from notify.sender import Sender, Transport, urllib_transport
from notify.sites import SiteDirectory
from notify.spool import Spool
from telemetry.clock import Clock, SystemClock

log = logging.getLogger(__name__)

PAGES = {
    "zh-CN": {
        "confirm_title": "确认告警",
        "confirm": "确认（认领）此告警：{what}",
        "name": "您的姓名（可选）",
        "button": "确认",
        "acked": "已确认，谢谢。",
        "already": "此告警已被确认过。",
        "unknown": "找不到此告警。",
        "expired": "此确认链接已过期，请在控制台中确认。",
        "bad": "此确认链接无效。",
    },
    "en": {
        "confirm_title": "Acknowledge alert",
        "confirm": "Acknowledge this alert: {what}",
        "name": "Your name (optional)",
        "button": "Acknowledge",
        "acked": "Acknowledged, thank you.",
        "already": "This alert was already acknowledged.",
        "unknown": "This alert is not known to the relay.",
        "expired": "This acknowledgement link has expired; acknowledge in the console.",
        "bad": "This acknowledgement link is not valid.",
    },
}


class Relay:
    """Spool + sender + HTTP server, wired; ``start()`` runs them in threads."""

    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry,
        clock: Clock | None = None,
        transport: Transport = urllib_transport,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.registry = registry
        self.metrics = NotifyMetrics(registry, list(config.channels))
        self.spool = Spool(config.spool)
        self.sites = SiteDirectory(config.db)
        self.audit = AuditLog(config.db)
        self.oncall = OnCallDirectory(config.db)
        self.store_ack = StoreAck(config.db)
        self.sender = Sender(
            config,
            self.spool,
            self.metrics,
            self.clock,
            self.sites,
            self.audit,
            transport,
            oncall=self.oncall,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.httpd = ThreadingHTTPServer((config.listen_host, config.listen_port), _handler(self))
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self, sender: bool = True) -> Relay:
        t = threading.Thread(target=self.httpd.serve_forever, name="notify-http", daemon=True)
        t.start()
        self._threads.append(t)
        if sender:
            s = threading.Thread(
                target=self.sender.run, args=(self._stop,), name="notify-sender", daemon=True
            )
            s.start()
            self._threads.append(s)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.sender.wake()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(10)
        self.spool.close()
        self.sites.close()
        self.audit.close()
        self.oncall.close()
        self.store_ack.close()

    # ------------------------------------------------------------------ requests

    def receive(self, raw: bytes) -> tuple[int, str]:
        n = parse(raw)
        if isinstance(n, Rejected):
            self.metrics.rejected.labels(n.reason).inc()
            log.warning("webhook rejected (%s): %s", n.reason, n.detail)
            return 400, f"{n.reason}: {n.detail}\n"
        channels = self.config.routes.get(n.receiver, ())
        stored = self.spool.store(n, raw, channels, self.clock.now().timestamp())
        if stored.duplicate:
            self.metrics.received.labels("duplicate").inc()
            return 200, "duplicate\n"
        self.metrics.received.labels("stored").inc()
        if not channels:
            # Kept in the spool (nothing lost), but no channel is owed it: the config is wrong.
            self.metrics.rejected.labels("unrouted").inc()
            log.warning(
                "receiver %r has no route: add it to [routes] in the config (stored as inbox %d)",
                n.receiver,
                stored.inbox_id,
            )
        self.sender.wake()
        return 200, "stored\n"

    def ack(self, token: str, by: str) -> tuple[int, str, str]:
        """(status, result, lang) for an ack POST."""
        claim = check_token(self.config.ack_secret, token, self.clock.now().timestamp())
        if not isinstance(claim, AckClaim):
            self.metrics.acks.labels(claim).inc()
            return (410 if claim == "expired" else 403), claim, "zh-CN"
        ch = self.config.channels.get(claim.channel)
        lang = ch.lang if ch else "zh-CN"
        by = " ".join(by.split())[:80]
        now = self.clock.now()
        result = self.spool.ack(
            claim.fingerprint, claim.starts_at, by or "ack-link", claim.channel, "", now.timestamp()
        )
        self.metrics.acks.labels(result).inc()
        stored = "skipped"
        if result in ("acked", "already"):
            # The escalation lives in the collector's store: acknowledge the posfleet alert
            # there too, or the page keeps climbing tiers. Also on 'already', so a link
            # opened again after a failed store write (locked store) can still stop it.
            labels = self.spool.alert_labels(claim.fingerprint, claim.starts_at)
            stored = self.store_ack.acknowledge(labels, by, f"via {claim.channel} ack link", now)
            self.metrics.store_acks.labels(stored).inc()
        if result == "acked":
            self.audit.record(
                "notify.ack",
                f"alert:{claim.fingerprint}",
                now,
                {
                    "startsAt": claim.starts_at,
                    "channel": claim.channel,
                    "by": by,
                    "via": "ack-link",
                    "store": stored,
                },
            )
        return (200 if result != "unknown" else 404), result, lang


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    ).encode()


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "posfleet-notify"

        def _reply(
            self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                relay.metrics.rejected.labels("oversized").inc()
                self._reply(413, b"body too large or without Content-Length\n")
                return None
            return self.rfile.read(length)

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            raw = self._body()
            if raw is None:
                return
            # /alertmanager/<anything> too: the receiver's name is in the payload, but a
            # per-receiver path reads better in Alertmanager's config and logs.
            if path == "/alertmanager" or path.startswith("/alertmanager/"):
                try:
                    status, text = relay.receive(raw)
                except Exception as exc:
                    # Not stored: a 5xx makes Alertmanager retry, so nothing is lost.
                    log.exception("could not store a notification")
                    status, text = 503, f"not stored: {type(exc).__name__}\n"
                self._reply(status, text.encode())
            elif path == "/ack":
                form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
                status, result, lang = relay.ack(form.get("t", [""])[0], form.get("name", [""])[0])
                p = PAGES[lang]
                msg = p.get(result) or (p["expired"] if result == "expired" else p["bad"])
                self._reply(
                    status,
                    _page(p["confirm_title"], f"<p>{html.escape(msg)}</p>"),
                    "text/html; charset=utf-8",
                )
            else:
                self._reply(404, b"not found\n")

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            if parts.path == "/metrics":
                self._reply(200, generate_latest(relay.registry), CONTENT_TYPE_LATEST)
            elif parts.path == "/healthz":
                self._reply(200, b"ok\n")
            elif parts.path == "/ack":
                token = urllib.parse.parse_qs(parts.query).get("t", [""])[0]
                claim = check_token(relay.config.ack_secret, token, relay.clock.now().timestamp())
                if not isinstance(claim, AckClaim):
                    p = PAGES["zh-CN"]
                    msg = p["expired"] if claim == "expired" else p["bad"]
                    self._reply(
                        410 if claim == "expired" else 403,
                        _page(p["confirm_title"], f"<p>{html.escape(msg)}</p>"),
                        "text/html; charset=utf-8",
                    )
                    return
                ch = relay.config.channels.get(claim.channel)
                p = PAGES[ch.lang if ch else "zh-CN"]
                labels = relay.spool.alert_labels(claim.fingerprint, claim.starts_at)
                what = " ".join(
                    labels.get(k, "")
                    for k in ("alertname", "region", "site", "gateway", "terminal")
                ).strip()
                form = (
                    f"<p>{html.escape(p['confirm'].format(what=what or claim.fingerprint))}</p>"
                    "<form method='post' action='ack'>"
                    f"<input type='hidden' name='t' value='{html.escape(token, quote=True)}'>"
                    f"<label>{html.escape(p['name'])} <input name='name' maxlength='80'></label> "
                    f"<button type='submit'>{html.escape(p['button'])}</button></form>"
                )
                self._reply(200, _page(p["confirm_title"], form), "text/html; charset=utf-8")
            else:
                self._reply(404, b"not found\n")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
