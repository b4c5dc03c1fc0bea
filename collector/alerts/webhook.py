"""Optional webhook notifier for teams without Alertmanager.

Reads the alert history from the store on its own thread and connection (never on the
processing thread: no network I/O there) and POSTs one JSON document per page
(``firing``), escalation (``escalated``), ``resolved`` and ``suppressed`` (a paged alert
now covered by its parent's page, a window or a suspension: no resolve is ever lost). A site_down
covered by its first gateway's page (its events' notes start with ``covered by``,
``collector.alerts.model.COVERED_NOTE``) sends nothing: that gateway's page is the store's.

Any number of collectors on one store may run it (issue #14): each event is claimed per row in
``webhook_deliveries`` (unique per target and event), never through a shared cursor. A notifier
claims only the oldest undelivered event of each alert, so delivery is in order per alert; the
claim is a lease judged by the database's clock (``lease_s``), so a collector killed between
claim and POST leaves the event to the others once the lease ends: at least once, and exactly
once while the claimers live. A 2xx marks the row ``delivered``; a 4xx marks it ``refused``
(logged, retrying cannot help); anything else releases the claim and backs off (doubling from
``poll_s`` up to ``max_backoff_s``, ending at the next success), so the event goes out from
whichever collector reaches the receiver first. A fresh store's notifier starts at the current
end of the history (``meta`` key ``alerts.webhook.floor``; a store upgraded from the single
cursor continues where that cursor was): it never replays old pages. The floor then moves up
behind what is done, and the delivery rows under it are dropped: the scan and the table stay
as long as the last ten minutes' pages, not the history.

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
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from collector.store import db
from collector.store.meta import get_meta
from collector.store.times import to_db

log = logging.getLogger(__name__)

# The single cursor of releases before issue #14: read once, as where delivery continues.
CURSOR_KEY = "alerts.webhook.cursor"
# The floor: every pageable alert_events id at or below it is delivered, refused, or older than
# this store's first notifier. Set once per store, then only moved up (conditionally, by any
# notifier) past events at least FLOOR_AGE_S old, so the scan for pending events stays short.
FLOOR_KEY = "alerts.webhook.floor"
# An event id can become visible after a higher one (PostgreSQL hands ids out before commit):
# the floor never passes an event younger than this, far longer than any batch transaction.
FLOOR_AGE_S = 600.0
FLOOR_EVERY_S = 60.0
# webhook_deliveries.target of the configured webhook (one per deployment; the URL itself is a
# secret and never stored, and a rotated token must not restart delivery).
TARGET = "webhook"

_PAGEABLE = """
e.actor = 'collector' AND e.note NOT LIKE 'covered by %' AND (
    (e.from_state = 'pending' AND e.to_state = 'firing')
    OR (e.from_state = 'firing' AND e.to_state IN ('resolved', 'suppressed'))
    OR (e.from_state = 'firing' AND e.to_state = 'firing' AND e.note LIKE 'escalation%'))
"""

# Pageable events neither delivered, refused nor held by another notifier's live lease, oldest
# first.
_PENDING = f"""
SELECT e.id, e.alert_id FROM alert_events e
WHERE e.id > ? AND {_PAGEABLE} AND NOT EXISTS (
    SELECT 1 FROM webhook_deliveries d WHERE d.target = ? AND d.event_id = e.id
    AND (d.state <> 'claimed' OR (d.claimed_by <> ? AND d.claimed_until > ?)))
ORDER BY e.id LIMIT ?
"""

# A claim: a new row, or the takeover of a claim whose lease has ended (or that is our own),
# and only for the oldest event of its alert not yet delivered or refused (its "head"), which
# keeps each alert's events in order whichever collectors send them. RETURNING decides: no row
# back, somebody else holds it, an older event of its alert is still out, or it is done.
_CLAIM = f"""
INSERT INTO webhook_deliveries
    (target, event_id, alert_id, state, claimed_by, claimed_until, attempts)
SELECT ?, ?, ?, 'claimed', ?, ?, 1 WHERE NOT EXISTS (
    SELECT 1 FROM alert_events e WHERE e.alert_id = ? AND e.id > ? AND e.id < ? AND {_PAGEABLE}
    AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries d
        WHERE d.target = ? AND d.event_id = e.id AND d.state <> 'claimed'))
ON CONFLICT (target, event_id) DO UPDATE SET
    claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until,
    attempts = webhook_deliveries.attempts + 1
WHERE webhook_deliveries.state = 'claimed'
    AND (webhook_deliveries.claimed_until <= ? OR webhook_deliveries.claimed_by = ?)
RETURNING event_id
"""

_EVENT = """
SELECT e.id, e.at, e.from_state, e.to_state, e.note, a.id, a.kind, a.subject_type,
       a.subject_id, a.severity, a.region_id, a.site_id, a.gateway_id, a.terminal_id,
       a.summary, a.started_at, a.fired_at, a.resolved_at, a.escalation, a.acked_by
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE e.id = ?
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
        lease_s: float | None = None,
        worker: str | None = None,
    ) -> None:
        self.url = url
        self.target = redact(url)  # what logs say instead of the URL
        self._secrets = _secrets_of(url)
        self.poll_s = poll_s
        self.max_backoff_s = max(max_backoff_s, poll_s)
        self.timeout_s = timeout_s
        self.batch = batch
        self._post = post
        # A claim must outlive one POST (timeout_s) with room to spare, or a slow receiver would
        # let a second collector post the same page.
        self.lease_s = lease_s if lease_s is not None else max(30.0, 4 * timeout_s)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.taken_over = 0
        self._next_floor = 0.0
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
        self._start()

    def _start(self) -> None:
        """Fix where delivery starts, once per store: the old single cursor if this store had
        one, else the current end of the history (a fresh notifier never replays old pages)."""
        with self._conn:
            if get_meta(self._conn, FLOOR_KEY) is None:
                legacy = get_meta(self._conn, CURSOR_KEY)
                if legacy is None:
                    (last,) = self._conn.execute(
                        "SELECT coalesce(max(id), 0) FROM alert_events"
                    ).fetchone()
                    legacy = str(int(last))
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (FLOOR_KEY, legacy),
                )

    def _now(self) -> float:
        """Epoch seconds by the database's clock on PostgreSQL (leases are compared across
        collectors whose clocks differ); SQLite has one collector, whose clock is the store's."""
        if isinstance(self._conn, db.PgConnection):
            (now,) = self._conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
            return float(now)
        return time.time()

    def _pending(self, start: int) -> list[tuple[int, int]]:
        now = self._now()
        rows = self._conn.execute(
            _PENDING, (start, TARGET, self.worker, now, self.batch)
        ).fetchall()
        self._end_read()
        return [(int(r[0]), int(r[1])) for r in rows]

    def _claim(self, start: int, event_id: int, alert_id: int) -> bool:
        with self._conn:
            now = self._now()
            got = self._conn.execute(
                _CLAIM,
                (
                    *(TARGET, event_id, alert_id, self.worker, now + self.lease_s),
                    *(alert_id, start, event_id, TARGET, now, self.worker),
                ),
            ).fetchone()
        return got is not None

    def _finish(self, event_id: int, state: str) -> None:
        """Mark our claim done; the row count says whether it was still ours."""
        with self._conn:
            done = self._conn.execute(
                "UPDATE webhook_deliveries SET state = ?, done_at = ? "
                "WHERE target = ? AND event_id = ? AND claimed_by = ? AND state = 'claimed'",
                (state, datetime.now(UTC).isoformat(), TARGET, event_id, self.worker),
            ).rowcount
        if done != 1:
            # Our lease ended mid-POST and another collector took the event: it may reach the
            # receiver twice (at least once, never lost).
            self.taken_over += 1
            log.warning("webhook event %s was taken over while we posted it", event_id)

    def _release(self, event_id: int | None = None) -> None:
        """Give back our claims (one, or all at close) for any collector to take now."""
        sql = "DELETE FROM webhook_deliveries WHERE target = ? AND claimed_by = ? AND state = 'claimed'"
        params: tuple[Any, ...] = (TARGET, self.worker)
        if event_id is not None:
            sql += " AND event_id = ?"
            params += (event_id,)
        with self._conn:
            self._conn.execute(sql, params)

    def _end_read(self) -> None:
        if isinstance(self._conn, db.PgConnection) and self._conn.in_transaction:
            self._conn.rollback()  # never idle in a transaction between statements

    def run_once(self) -> int:
        """Deliver what is pending and not claimed by another collector, oldest first; returns
        how many were delivered. An alert whose older event another collector holds is left for
        the rest of the pass (its order is that collector's to keep)."""
        if time.monotonic() >= self._next_floor:
            self._next_floor = time.monotonic() + FLOOR_EVERY_S
            self.advance_floor()
        start = int(get_meta(self._conn, FLOOR_KEY) or 0)
        self._end_read()
        delivered = 0
        budget = self.batch
        while budget > 0:
            progressed = False
            held: set[int] = set()
            for event_id, alert_id in self._pending(start)[:budget]:
                if alert_id in held or not self._claim(start, event_id, alert_id):
                    held.add(alert_id)
                    continue
                progressed = True
                budget -= 1
                outcome = self._deliver(event_id)
                if outcome is None:
                    self._release(event_id)
                    self.sent += delivered
                    return delivered
                self._finish(event_id, outcome)
                delivered += outcome == "delivered"
            if not progressed:
                break
        self.sent += delivered
        return delivered

    def advance_floor(self) -> int:
        """Move the floor up to just below the oldest event still to deliver (never past an
        event younger than FLOOR_AGE_S), and drop the delivery rows under it; returns it."""
        floor = int(get_meta(self._conn, FLOOR_KEY) or 0)
        (undone,) = self._conn.execute(
            f"SELECT min(e.id) FROM alert_events e WHERE e.id > ? AND {_PAGEABLE} "
            "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.target = ? "
            "AND d.event_id = e.id AND d.state <> 'claimed')",
            (floor, TARGET),
        ).fetchone()
        cutoff = to_db(datetime.now(UTC) - timedelta(seconds=FLOOR_AGE_S))
        sql = "SELECT max(id) FROM alert_events WHERE id > ? AND at < ?"
        params: tuple[Any, ...] = (floor, cutoff)
        if undone is not None:
            sql += " AND id < ?"
            params += (int(undone),)
        (new,) = self._conn.execute(sql, params).fetchone()
        self._end_read()
        if new is None:
            return floor
        with self._conn:
            moved = self._conn.execute(
                "UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                (str(int(new)), FLOOR_KEY, str(floor)),
            ).rowcount
            if moved:  # the row count decides: another notifier may have moved it first
                self._conn.execute(
                    "DELETE FROM webhook_deliveries WHERE target = ? AND event_id <= ? "
                    "AND state <> 'claimed'",
                    (TARGET, int(new)),
                )
        return int(new) if moved else floor

    def _deliver(self, event_id: int) -> str | None:
        """POST one event: "delivered", "refused" (4xx, skipped) or None (retry later)."""
        row = self._conn.execute(_EVENT, (event_id,)).fetchone()
        self._end_read()
        if row is None:  # pruned by retention since: nothing left to say
            return "refused"
        body = json.dumps(payload(row)).encode()
        try:
            status = self._post(self.url, body, self._headers, self.timeout_s)
        except (http.client.HTTPException, ValueError) as exc:  # e.g. BadStatusLine
            self._failed("bad_response", f"answered garbage ({self._scrub(exc)})")
            return None
        except OSError as exc:  # refused, reset, timeout, DNS
            self._failed("unreachable", f"unreachable ({self._scrub(exc)})")
            return None
        if 200 <= status < 300:
            self.failed_in_a_row = 0
            return "delivered"
        if 400 <= status < 500:
            self._failures.labels("refused").inc()
            log.error("webhook %s refused event %s with %s; skipped", self.target, event_id, status)
            return "refused"
        self._failed("server_error", f"answered {status}")
        return None

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
        with contextlib.suppress(*db.Error):
            self._release()  # a claim we hold would otherwise wait out its lease
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
