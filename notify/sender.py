"""The sender: delivers what the spool owes each channel, within each robot's rate limit.

``pump()`` does all the work that is possible right now and says when to look again; the
thread in ``run()`` only sleeps between pumps (woken early by new notifications). Tests
drive ``pump()`` with a fake clock, so rate-limit cases take no wall time.

Per channel, oldest first:

- while the robot's window has room for every due notification, each goes out as its own
  message;
- once there are more due notifications than the window has room for, the next message is
  a digest: counts over the whole backlog and one line for each of the oldest up to
  ``digest_max`` alerts, which that message delivers; the rest follow in the next digest.
  Nothing is dropped: a notification leaves the queue only when a message carrying it was
  accepted (or when it has failed for ``give_up_after_s``).
- a failed attempt (network error, 5xx, an error code) is retried with exponential backoff
  and jitter; the channel pauses for that backoff so a dead robot does not burn the window.

Delivery is at least once: the row is marked delivered in the same transaction that records
the robot's answer, but a crash after the robot accepted a message and before that commit
resends it once after the restart. Robots offer no idempotency key to do better.
"""

from __future__ import annotations

import logging
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from notify.ack import AckClaim, ack_url
from notify.audit import AuditLog
from notify.channels import MAX_SIZE, Outcome, Request, build, classify, message_size
from notify.config import Channel, Config
from notify.metrics import NotifyMetrics, escalation_level
from notify.oncall import Mention, OnCallDirectory, alert_level
from notify.payload import Alert
from notify.ratelimit import RateLimit
from notify.render import (
    SINGLE_MAX_ALERTS,
    Document,
    SiteLookup,
    fit,
    render_digest,
    render_single,
    with_oncall,
)
from notify.spool import Pending, Spool
from telemetry.clock import Clock

log = logging.getLogger(__name__)

Transport = Callable[[Request, float], tuple[int, bytes]]
IDLE_S = 30.0
KEEP_S = 14 * 86400.0  # finished notifications, requests and acks kept in the spool
PRUNE_EVERY_S = 3600.0


def urllib_transport(req: Request, timeout: float) -> tuple[int, bytes]:
    r = urllib.request.Request(
        req.url, data=req.body or None, method=req.method, headers=req.headers
    )
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read() or b""


class Sender:
    def __init__(
        self,
        config: Config,
        spool: Spool,
        metrics: NotifyMetrics,
        clock: Clock,
        lookup: SiteLookup,
        audit: AuditLog,
        transport: Transport = urllib_transport,
        rng: random.Random | None = None,
        oncall: OnCallDirectory | None = None,
    ) -> None:
        self.config = config
        self.spool = spool
        self.metrics = metrics
        self.clock = clock
        self.lookup = lookup
        self.audit = audit
        self.transport = transport
        self.rng = rng or random.Random()
        self.oncall = oncall
        self.limiters: dict[str, RateLimit] = {}
        self._paused_until: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._wake = threading.Event()
        wall, mono = clock.now().timestamp(), clock.monotonic()
        for ch in config.channels.values():
            lim = RateLimit(list(ch.limits))
            # After a restart the robot still remembers what we sent: rebuild the windows.
            longest = max(per for _, per in ch.limits)
            for sent in self.spool.recent_sends(ch.name, wall - longest):
                lim.record(mono - (wall - sent))
            self.limiters[ch.name] = lim

    # ------------------------------------------------------------------ loop

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        pruned_at = float("-inf")
        while not stop.is_set():
            try:
                if self.clock.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = self.clock.monotonic()
                    gone = self.spool.prune(self.clock.now().timestamp() - KEEP_S)
                    if gone:
                        log.info("spool: forgot %d finished notifications", gone)
                wait = self.pump()
            except Exception:
                # One bad row or a full disk must not kill the sender; it tries again.
                log.exception("sender pump failed; retrying in 5 s")
                wait = 5.0
            self._wake.wait(IDLE_S if wait is None else min(max(wait, 0.01), IDLE_S))
            self._wake.clear()

    def pump(self) -> float | None:
        """Send everything sendable now; seconds until there may be more (None: idle)."""
        waits = [w for ch in self.config.channels.values() if (w := self._pump(ch)) is not None]
        depth = self.spool.depth()
        for name in self.config.channels:
            self.metrics.queue_depth.labels(name).set(depth.get(name, 0))
        return min(waits) if waits else None

    # ------------------------------------------------------------------ one channel

    def _pump(self, ch: Channel) -> float | None:
        lim = self.limiters[ch.name]
        while True:
            wall, mono = self.clock.now().timestamp(), self.clock.monotonic()
            paused = self._paused_until.get(ch.name, 0.0)
            if mono < paused:
                return None if self.spool.next_due(ch.name) is None else paused - mono
            due = self.spool.pending(ch.name, wall)
            if not due:
                nxt = self.spool.next_due(ch.name)
                return None if nxt is None else max(nxt - wall, 0.0)
            if lim.available(mono) <= 0:
                return lim.next_free(mono) - mono
            room = lim.budget(mono)
            rest: list[Pending]
            if len(due) <= room:
                batch, rest, kind = due[:1], [], "single"
            else:
                batch, rest = self._digest_batch(ch, due)
                kind = "digest" if len(batch) > 1 else "single"
            doc = self._render(ch, batch, rest, kind)
            if self.oncall is not None:
                alerts = [a for p in batch for a in p.notification.alerts]
                mentions = self.oncall.for_alerts(alerts, self.clock.now())
                doc = with_oncall(doc, mentions, ch.lang)
            # The last word on size: the on-call line and mentions are in now, and a single
            # alert with a long description or hostile values may still be too big.
            doc = fit(doc, self._size(ch), MAX_SIZE[ch.type], ch.lang)
            self._send(ch, lim, batch, kind, doc)

    def _size(self, ch: Channel) -> Callable[[Document], int]:
        now_s = self.clock.now().timestamp()
        return lambda doc: message_size(ch, doc, now_s)

    def _digest_batch(self, ch: Channel, due: list[Pending]) -> tuple[list[Pending], list[Pending]]:
        batch: list[Pending] = []
        count = 0
        for p in due:
            n = len(p.notification.alerts)
            if batch and count + n > ch.digest_max:
                break
            batch.append(p)
            count += n
        size, limit = self._size(ch), MAX_SIZE[ch.type]
        while len(batch) > 1 and limit:
            doc = self._render(ch, batch, due[len(batch) :], "digest")
            if size(doc) <= limit:
                break
            batch.pop()
        return batch, due[len(batch) :]

    def _render(
        self, ch: Channel, batch: list[Pending], rest: list[Pending], kind: str
    ) -> Document:
        now = self.clock.now()

        def link(a: Alert) -> str | None:
            claim = AckClaim(
                a.fingerprint, a.starts_at, ch.name, int(now.timestamp() + self.config.ack_ttl_s)
            )
            return ack_url(self.config.public_url, self.config.ack_secret, claim)

        if kind == "single":
            n = batch[0].notification
            # A big group lists fewer alerts in full until it fits the robot's size limit.
            shown = SINGLE_MAX_ALERTS
            size, limit = self._size(ch), MAX_SIZE[ch.type]
            while True:
                doc = render_single(n, ch.lang, ch.tz, now, self.lookup, link, shown)
                if shown <= 1 or not limit or size(doc) <= limit:
                    return doc
                shown -= 1
        return render_digest(
            [p.notification for p in batch],
            [p.notification for p in rest],
            ch.lang,
            ch.tz,
            now,
            self.lookup,
            link,
        )

    def _send(
        self, ch: Channel, lim: RateLimit, batch: list[Pending], kind: str, doc: Document
    ) -> None:
        outcome = Outcome("ok", "")
        recipients: tuple[str, ...] = ch.to or ("",)
        if ch.to_oncall:
            phones = [m.person.phone for m in doc.mentions if m.person.phone]
            recipients = tuple(dict.fromkeys([*ch.to, *phones]))
            if not recipients:
                # Retried until someone is on call (or give_up_after_s): never dropped silently.
                outcome = Outcome("error", "nobody on call with a phone, and no static `to`")
        for to in recipients:
            req = build(ch, doc, self.clock.now().timestamp(), to)
            try:
                status, raw = self.transport(req, self.config.timeout_s)
                outcome = classify(ch, status, raw)
            except (OSError, ValueError) as exc:  # URLError, timeouts, refused, bad URL
                outcome = Outcome("error", f"{type(exc).__name__}: {str(exc)[:200]}")
            finally:
                lim.record(self.clock.monotonic())
            if outcome.result != "ok":
                break
        ended = self.clock.now()
        wall_end, mono_end = ended.timestamp(), self.clock.monotonic()
        if outcome.result == "rate_limited":
            lim.exhaust(mono_end)
        retry_at = None
        if outcome.result != "ok":
            failures = self._failures.get(ch.name, 0) + 1
            self._failures[ch.name] = failures
            delay = self._backoff(max(failures, max(p.attempts for p in batch) + 1))
            retry_at = wall_end + delay
            self._paused_until[ch.name] = mono_end + delay
        else:
            self._failures[ch.name] = 0
        delivered, failed = self.spool.record_attempt(
            ch.name,
            kind,
            batch,
            wall_end,
            outcome.result,
            outcome.detail,
            retry_at,
            wall_end - self.config.give_up_after_s,
        )
        self._account(ch, kind, batch, outcome, delivered, failed, ended, doc.mentions)

    def _backoff(self, attempt: int) -> float:
        base = min(self.config.backoff_initial_s * 2.0 ** (attempt - 1), self.config.backoff_max_s)
        # Jitter (half to full delay) keeps many relays or channels from retrying in step.
        return base * (0.5 + 0.5 * self.rng.random())

    def _account(
        self,
        ch: Channel,
        kind: str,
        batch: list[Pending],
        outcome: Outcome,
        delivered: list[Pending],
        failed: list[Pending],
        now: datetime,
        mentions: tuple[Mention, ...] = (),
    ) -> None:
        m = self.metrics
        if outcome.result == "ok":
            if kind == "digest":
                m.digests.labels(ch.name).inc()
            for p in delivered:
                m.notifications.labels(ch.name, "delivered").inc()
                m.delivery_seconds.labels(ch.name).observe(max(now.timestamp() - p.created_at, 0))
                for a in p.notification.alerts:
                    level = escalation_level(a.labels.get("escalation", ""))
                    if level is not None and a.status == "firing":
                        m.escalations.labels(ch.name, level).inc()
                self._audit("notify.delivered", ch, p, now, kind, "", mentions)
                self._audit_escalations(ch, p, now, mentions)
            log.info(
                "%s: delivered %d notification(s) as %s to %s",
                ch.name,
                len(delivered),
                kind,
                ch.host,
            )
            return
        result = "rate_limited" if outcome.result == "rate_limited" else "retry"
        m.notifications.labels(ch.name, result).inc(len(batch) - len(failed))
        for p in failed:
            m.notifications.labels(ch.name, "failed").inc()
            self._audit("notify.failed", ch, p, now, kind, outcome.detail)
        log.warning(
            "%s: %s to %s failed (%s); %d will be retried, %d given up",
            ch.name,
            kind,
            ch.host,
            outcome.detail,
            len(batch) - len(failed),
            len(failed),
        )

    def _audit_escalations(
        self, ch: Channel, p: Pending, now: datetime, mentions: tuple[Mention, ...]
    ) -> None:
        """One ``notify.escalated`` row per firing alert above level 1: to whom it went."""
        for a in p.notification.alerts:
            level = alert_level(a)
            if a.status != "firing" or level < 2:
                continue
            region = a.labels.get("region", "")
            to = [{"tier": x.tier, "name": x.person.name} for x in mentions if x.region == region]
            self.audit.record(
                "notify.escalated",
                f"alert:{a.fingerprint}",
                now.astimezone(UTC),
                {
                    "alertname": a.labels.get("alertname", ""),
                    "level": level,
                    "region": region,
                    "site": a.labels.get("site", ""),
                    "channel": ch.name,
                    "oncall": to,
                },
            )

    def _audit(
        self,
        action: str,
        ch: Channel,
        p: Pending,
        now: datetime,
        kind: str,
        error: str,
        mentions: tuple[Mention, ...] = (),
    ) -> None:
        n = p.notification
        details = {
            "channel": ch.name,
            "type": ch.type,
            "receiver": n.receiver,
            "status": n.status,
            "message": kind,
            "attempts": p.attempts + 1,
            "alerts": [
                {
                    "alertname": a.labels.get("alertname", ""),
                    "fingerprint": a.fingerprint,
                    "site": a.labels.get("site", ""),
                    "startsAt": a.starts_at,
                }
                for a in n.alerts[:50]
            ],
        }
        if mentions:
            details["oncall"] = [
                {"region": x.region, "tier": x.tier, "name": x.person.name} for x in mentions
            ]
        if error:
            details["error"] = error
        self.audit.record(action, f"notification:{p.inbox_id}", now.astimezone(UTC), details)
