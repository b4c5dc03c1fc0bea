"""The relay's Prometheus metrics, on a registry passed in. Labels stay bounded: ``channel``
is a configured channel name (a handful), ``result`` and ``reason`` are fixed sets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RESULTS = ("delivered", "retry", "rate_limited", "failed")
ESCALATION_LEVELS = ("1", "2", "3+")
STORE_ACK_RESULTS = ("acked", "already", "not_found", "no_store", "error")
REJECT_REASONS = ("oversized", "malformed_json", "wrong_schema", "wrong_version", "unrouted")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry, channels: list[str]) -> None:
        self.notifications = Counter(
            "posfleet_notify_notifications_total",
            "Notifications by channel and result: delivered, retry (a failed attempt that "
            "will be retried), rate_limited (the robot answered 'too fast'), failed (given up)",
            ["channel", "result"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "posfleet_notify_delivery_seconds",
            "Seconds from receiving a notification to the robot accepting it",
            ["channel"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=registry,
        )
        self.digests = Counter(
            "posfleet_notify_digests_total",
            "Digest messages sent because a robot's rate budget was exhausted",
            ["channel"],
            registry=registry,
        )
        self.escalations = Counter(
            "posfleet_notify_escalations_total",
            "Escalated alerts delivered (the alert's escalation label above 0), by level "
            "1, 2 or 3+ (the level is raised upstream while an alert stays unacknowledged)",
            ["channel", "level"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "posfleet_notify_queue_depth",
            "Notifications waiting to be delivered, by channel",
            ["channel"],
            registry=registry,
        )
        self.received = Counter(
            "posfleet_notify_received_total",
            "Alertmanager notifications received, stored (new) or duplicate (a retry)",
            ["result"],
            registry=registry,
        )
        self.rejected = Counter(
            "posfleet_notify_rejected_total",
            "Webhook requests refused or stored without a route, by reason",
            ["reason"],
            registry=registry,
        )
        self.acks = Counter(
            "posfleet_notify_acks_total",
            "Acknowledgement link results: acked, already, unknown, bad_signature, expired, malformed",
            ["result"],
            registry=registry,
        )
        self.store_acks = Counter(
            "posfleet_notify_store_acks_total",
            "Ack links passed on to the posfleet store (acknowledge_alert, which stops the "
            "escalation): acked, already (acked or resolved before), not_found, no_store "
            "(no --db), error",
            ["result"],
            registry=registry,
        )
        for r in STORE_ACK_RESULTS:
            self.store_acks.labels(r)
        for ch in channels:
            self.queue_depth.labels(ch).set(0)
            self.digests.labels(ch)
            for level in ESCALATION_LEVELS:
                self.escalations.labels(ch, level)
            for r in RESULTS:
                self.notifications.labels(ch, r)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        for r in ("stored", "duplicate"):
            self.received.labels(r)


def escalation_level(label: str) -> str | None:
    """The bounded ``level`` label for an alert's ``escalation`` label (None: not escalated)."""
    try:
        level = int(label)
    except ValueError:
        return None
    if level <= 0:
        return None
    return str(level) if level < 3 else "3+"
