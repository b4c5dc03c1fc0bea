"""Optional webhook notifier for teams without Alertmanager.

Reads the alert history from the store on its own thread and connection (never on the
processing thread: no network I/O there) and POSTs one JSON document per page
(``firing``), escalation (``escalated``), ``resolved`` and ``suppressed`` (a paged alert
now covered by its parent, a window or a suspension: no resolve is ever lost). Delivery is
at least once and in order: the cursor (last delivered ``alert_events.id``, kept in
``meta``) only moves after a 2xx; a 4xx is logged and skipped (retrying cannot help);
anything else is retried on the next poll. A fresh notifier starts at the current end of
the history: it never replays old pages.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CURSOR_KEY = "alerts.webhook.cursor"

_EVENTS = """
SELECT e.id, e.at, e.from_state, e.to_state, e.note, a.id, a.kind, a.subject_type,
       a.subject_id, a.severity, a.region_id, a.site_id, a.gateway_id, a.terminal_id,
       a.summary, a.started_at, a.fired_at, a.resolved_at, a.escalation, a.acked_by
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE e.id > ? AND e.actor = 'collector' AND (
    (e.from_state = 'pending' AND e.to_state = 'firing')
    OR (e.from_state = 'firing' AND e.to_state IN ('resolved', 'suppressed'))
    OR (e.from_state = 'firing' AND e.to_state = 'firing' AND e.note LIKE 'escalation%'))
ORDER BY e.id LIMIT ?
"""

Post = Callable[[str, bytes, dict[str, str], float], int]


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
    # "suppressed": a paged alert went quiet because its parent (site, gateway), a window or
    # a suspension now covers it; receivers treat it like a resolve of that page.
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
        db_path: Path,
        url: str,
        *,
        poll_s: float = 2.0,
        timeout_s: float = 5.0,
        batch: int = 100,
        post: Post = http_post,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.batch = batch
        self._post = post
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._conn = sqlite3.connect(db_path, timeout=10, check_same_thread=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0
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
            except OSError as exc:
                status = 0
                log.warning("webhook %s unreachable (%s); will retry", self.url, exc)
            if 200 <= status < 300:
                delivered += 1
            elif 400 <= status < 500:
                log.error("webhook %s refused event %s with %s; skipped", self.url, row[0], status)
            else:
                self.failures += 1
                break  # keep the order: retry this one on the next poll
            cursor = row[0]
            self._save_cursor(cursor)
        self.sent += delivered
        return delivered

    def start(self) -> WebhookNotifier:
        self._thread = threading.Thread(target=self._run, name="alerts-webhook", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except sqlite3.Error as exc:
                log.warning("webhook notifier could not read the store: %s", exc)
            self._stop.wait(self.poll_s)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._conn.close()


def start_webhook(db_path: Path, url: str | None, poll_s: float = 2.0) -> WebhookNotifier | None:
    """For the collector's main: ``AlertSettings.webhook_url`` set -> a running notifier."""
    return WebhookNotifier(db_path, url, poll_s=poll_s).start() if url else None
