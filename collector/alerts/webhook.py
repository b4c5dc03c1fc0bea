"""Optional webhook notifier for teams without Alertmanager.

Reads the alert history from the store on its own thread and connection (never on the
processing thread: no network I/O there) and POSTs one JSON document per page
(``firing``), escalation (``escalated``), ``resolved`` and ``suppressed`` (a paged alert
now covered by its parent's page, a window or a suspension: no resolve is ever lost). A site_down
covered by its first gateway's page (its events' notes start with ``covered by``,
``collector.alerts.model.COVERED_NOTE``) sends nothing: that gateway's page is the store's. Delivery is
at least once and in order: the cursor (last delivered ``alert_events.id``, kept in
``meta``) only moves after a 2xx; a 4xx is logged and skipped (retrying cannot help);
anything else is retried, after a backoff that doubles from ``poll_s`` up to
``max_backoff_s`` and ends at the next success. A fresh notifier starts at the current end of
the history: it never replays old pages.

The notifier must outlive whatever a receiver answers: a reset, a garbage status line
(``http.client.BadStatusLine``), a bad URL (``ValueError``) or a bug of ours are each counted
by reason (``posfleet_alert_webhook_failures_total{reason}``) and retried; the thread only
ends at ``close()``. Should it end anyway, ``alive()`` says so, and the collector's
``/healthz`` and ``posfleet_collector_worker_up{worker="webhook"}`` with it.

The URL is a secret (chat and paging webhooks carry their token in the path or the query):
it is never logged, only ``redact(url)`` (scheme, host and port), and exception messages are
scrubbed of it before they are.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from collector.store import db

log = logging.getLogger(__name__)

CURSOR_KEY = "alerts.webhook.cursor"

_EVENTS = """
SELECT e.id, e.at, e.from_state, e.to_state, e.note, a.id, a.kind, a.subject_type,
       a.subject_id, a.severity, a.region_id, a.site_id, a.gateway_id, a.terminal_id,
       a.summary, a.started_at, a.fired_at, a.resolved_at, a.escalation, a.acked_by
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE e.id > ? AND e.actor = 'collector' AND e.note NOT LIKE 'covered by %' AND (
    (e.from_state = 'pending' AND e.to_state = 'firing')
    OR (e.from_state = 'firing' AND e.to_state IN ('resolved', 'suppressed'))
    OR (e.from_state = 'firing' AND e.to_state = 'firing' AND e.note LIKE 'escalation%'))
ORDER BY e.id LIMIT ?
"""

Post = Callable[[str, bytes, dict[str, str], float], int]

# Label values of posfleet_alert_webhook_failures_total{reason} (bounded).
FAILURE_REASONS = ("unreachable", "bad_response", "server_error", "refused", "error")


def redact(url: str) -> str:
    """What a log line may say about a webhook URL: scheme, host and port, nothing else."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable webhook URL>"
    return f"{parts.scheme or '?'}://{host}{port}/…"


def _secrets_of(url: str) -> list[str]:
    """The parts of ``url`` that may carry a token, longest first."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return [url]
    pieces = [url, parts.netloc.rpartition("@")[0], parts.path, parts.query, parts.fragment]
    pieces += [urllib.parse.unquote(p) for p in pieces]
    return sorted({p for p in pieces if len(p) > 1}, key=len, reverse=True)


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def payload(row: tuple[Any, ...]) -> dict[str, Any]:
    (eid, at, frm, to, note, aid, kind, st, sid, sev, region, site, gw, term, summary,
     started, fired, resolved, escalation, acked_by) = row  # fmt: skip
    # "suppressed": a paged alert went quiet because its parent's page (site, gateway), a
    # window or a suspension now covers it; receivers treat it like a resolve of that page.
    event = "firing" if frm == "pending" else "escalated" if to == "firing" else to
    return {
        "event": event,
        "event_id": eid,
        "at": at,
        "note": note,
        "alert": {
            "id": aid, "kind": kind, "subject_type": st, "subject_id": sid, "severity": sev,
            "region": region, "site": site, "gateway": gw, "terminal": term,
            "summary": summary, "started_at": started, "fired_at": fired,
            "resolved_at": resolved, "escalation": escalation, "acked_by": acked_by,
        },
    }  # fmt: skip


class WebhookNotifier:
    def __init__(
        self,
        db_path: Path | str,
        url: str,
        *,
        poll_s: float = 2.0,
        timeout_s: float = 5.0,
        batch: int = 100,
        post: Post = http_post,
        headers: dict[str, str] | None = None,
        registry: CollectorRegistry | None = None,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.url = url
        self.target = redact(url)  # what logs say instead of the URL
        self._secrets = _secrets_of(url)
        self.poll_s = poll_s
        self.max_backoff_s = max(max_backoff_s, poll_s)
        self.timeout_s = timeout_s
        self.batch = batch
        self._post = post
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._db = db_path
        self._conn = db.connect(db_path, timeout=10)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0
        self.failed_in_a_row = 0
        self._failures = Counter(
            "posfleet_alert_webhook_failures",
            "Webhook deliveries that failed, by reason (refused = 4xx, skipped; others retried)",
            ["reason"],
            registry=registry,
        )
        for reason in FAILURE_REASONS:
            self._failures.labels(reason)
        if self._cursor() is None:
            (last,) = self._conn.execute("SELECT coalesce(max(id), 0) FROM alert_events").fetchone()
            self._save_cursor(int(last))

    def _cursor(self) -> int | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()
        return int(row[0]) if row else None

    def _save_cursor(self, value: int) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (CURSOR_KEY, str(value)),
            )

    def run_once(self) -> int:
        """Deliver what is pending; returns how many were delivered."""
        cursor = self._cursor() or 0
        rows = self._conn.execute(_EVENTS, (cursor, self.batch)).fetchall()
        delivered = 0
        for row in rows:
            body = json.dumps(payload(row)).encode()
            try:
                status = self._post(self.url, body, self._headers, self.timeout_s)
            except (http.client.HTTPException, ValueError) as exc:  # e.g. BadStatusLine
                self._failed("bad_response", f"answered garbage ({self._scrub(exc)})")
                break  # keep the order: retry this one after the backoff
            except OSError as exc:  # refused, reset, timeout, DNS
                self._failed("unreachable", f"unreachable ({self._scrub(exc)})")
                break
            if 200 <= status < 300:
                delivered += 1
                self.failed_in_a_row = 0
            elif 400 <= status < 500:
                self._failures.labels("refused").inc()
                log.error(
                    "webhook %s refused event %s with %s; skipped", self.target, row[0], status
                )
            else:
                self._failed("server_error", f"answered {status}")
                break
            cursor = row[0]
            self._save_cursor(cursor)
        self.sent += delivered
        return delivered

    def _failed(self, reason: str, what: str) -> None:
        self.failures += 1
        self.failed_in_a_row += 1
        self._failures.labels(reason).inc()
        log.warning("webhook %s %s; will retry in %.1f s", self.target, what, self.backoff_s())

    def _scrub(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return text

    def backoff_s(self) -> float:
        """Wait before the next poll: poll_s, doubled per failure in a row, capped."""
        exponent = min(self.failed_in_a_row, 16)
        return float(min(self.poll_s * (1 << exponent), self.max_backoff_s))

    def alive(self) -> bool:
        """False once the thread has ended without close() asking it to."""
        return self._thread is not None and (self._thread.is_alive() or self._stop.is_set())

    def start(self) -> WebhookNotifier:
        self._thread = threading.Thread(target=self._run, name="alerts-webhook", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except db.Error as exc:
                log.warning("webhook notifier could not read the store: %s", exc)
            except Exception as exc:  # a bug of ours: counted, logged (scrubbed), retried
                self._failed("error", f"delivery round failed ({self._scrub(exc)})")
            if isinstance(self._conn, db.PgConnection):
                # End the round's read (or a failed one): never idle in a transaction; a
                # session the server dropped is replaced for the next round.
                with contextlib.suppress(*db.Error):
                    self._conn.rollback()
                if self._conn.closed:
                    with contextlib.suppress(db.StoreError):
                        self._conn = db.connect(self._db, timeout=10)
            self._stop.wait(self.backoff_s() if self.failed_in_a_row else self.poll_s)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._conn.close()


def start_webhook(
    db_path: Path | str,
    url: str | None,
    poll_s: float = 2.0,
    registry: CollectorRegistry | None = None,
) -> WebhookNotifier | None:
    """For the collector's main: ``AlertSettings.webhook_endpoint()`` set -> a running
    notifier."""
    if not url:
        return None
    notifier = WebhookNotifier(db_path, url, poll_s=poll_s, registry=registry).start()
    log.info("webhook notifier posting to %s", notifier.target)
    return notifier
