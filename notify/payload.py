"""Alertmanager webhook payloads (version 4) as values; rejection is a value, not an exception.

The idempotency key identifies one notification across Alertmanager's retries: Alertmanager
re-sends the very same group state when our answer was lost or not 2xx, and a re-sent
notification must not page twice. A later notification of the same group (an alert added,
resolved, or re-notified after ``repeat_interval``) differs in status, fingerprints or
timestamps, or is a deliberate repeat; repeats are keyed by the receipt window too so a
``repeat_interval`` reminder still goes out (see ``idempotency_key``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    fingerprint: str

    def get(self, key: str) -> str:
        """A label, else an annotation of that name, else ''."""
        return self.labels.get(key) or self.annotations.get(key) or ""


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    alerts: tuple[Alert, ...]
    group_key: str
    common_labels: dict[str, str]
    external_url: str
    truncated_alerts: int


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str


def _str_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def parse(raw: bytes) -> Notification | Rejected:
    if len(raw) > MAX_BODY_BYTES:
        return Rejected("oversized", f"{len(raw)} bytes > {MAX_BODY_BYTES}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected("malformed_json", str(exc)[:200])
    if not isinstance(body, dict):
        return Rejected("wrong_schema", "the body is not a JSON object")
    if str(body.get("version", "")) != "4":
        return Rejected("wrong_version", f"version {body.get('version')!r}, expected '4'")
    receiver, status, items = body.get("receiver"), body.get("status"), body.get("alerts")
    if not isinstance(receiver, str) or status not in ("firing", "resolved"):
        return Rejected("wrong_schema", "receiver (string) and status (firing|resolved) required")
    if not isinstance(items, list) or not items:
        return Rejected("wrong_schema", "alerts must be a non-empty list")
    alerts: list[Alert] = []
    for item in items:
        if not isinstance(item, dict):
            return Rejected("wrong_schema", "an alert is not an object")
        labels, annotations = (
            _str_map(item.get("labels", {})),
            _str_map(item.get("annotations", {})),
        )
        fp = item.get("fingerprint")
        if labels is None or annotations is None or not isinstance(fp, str) or not fp:
            return Rejected("wrong_schema", "an alert lacks labels, annotations or fingerprint")
        alerts.append(
            Alert(
                status=str(item.get("status", status)),
                labels=labels,
                annotations=annotations,
                starts_at=str(item.get("startsAt", "")),
                ends_at=str(item.get("endsAt", "")),
                fingerprint=fp,
            )
        )
    truncated = body.get("truncatedAlerts", 0)
    return Notification(
        receiver=receiver,
        status=status,
        alerts=tuple(alerts),
        group_key=str(body.get("groupKey", "")),
        common_labels=_str_map(body.get("commonLabels", {})) or {},
        external_url=str(body.get("externalURL", "")),
        truncated_alerts=truncated if isinstance(truncated, int) else 0,
    )


def idempotency_key(n: Notification) -> str:
    """groupKey + status + each alert's fingerprint, status, startsAt and endsAt.

    A retry of the same notification carries exactly these; Alertmanager's
    ``repeat_interval`` reminder carries them too, which is why the spool keeps keys only
    for ``dedup_window_s`` (a reminder hours later is a new page; a retry minutes later is not).
    """
    parts = [n.receiver, n.group_key, n.status]
    for a in sorted(n.alerts, key=lambda a: a.fingerprint):
        parts.append(f"{a.fingerprint}|{a.status}|{a.starts_at}|{a.ends_at}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def parse_time(value: str) -> datetime | None:
    """Alertmanager's RFC 3339 times (nanoseconds, 'Z'); the zero time means 'none'."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    # Python parses at most microseconds: cut the fraction to six digits.
    head, dot, rest = text.partition(".")
    if dot:
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        tail = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
