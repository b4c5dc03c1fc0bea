"""Topic layout: ``posfleet/v1/{gateway_id}/{kind}`` and
``posfleet/v1/{gateway_id}/terminal/{terminal_id}/{kind}``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "posfleet/v1"
# Ids go into topics, file names and Prometheus labels: keep them boring.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")


class Kind(StrEnum):
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    NETWORK = "network"
    FIRMWARE = "firmware"
    HARDWARE = "hardware"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class TopicRef:
    gateway_id: str
    kind: Kind
    terminal_id: str | None = None


def valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def topic_for(gateway_id: str, kind: Kind | str, terminal_id: str | None = None) -> str:
    if not valid_id(gateway_id):
        raise ValueError(f"invalid gateway id {gateway_id!r}: must match {ID_PATTERN}")
    k = Kind(kind)
    if terminal_id is None:
        return f"{ROOT}/{gateway_id}/{k.value}"
    if not valid_id(terminal_id):
        raise ValueError(f"invalid terminal id {terminal_id!r}: must match {ID_PATTERN}")
    return f"{ROOT}/{gateway_id}/terminal/{terminal_id}/{k.value}"


def subscription(share_group: str | None = None) -> str:
    """The collector's subscription; ``$share/{group}/...`` when scaled out."""
    base = f"{ROOT}/#"
    return f"$share/{share_group}/{base}" if share_group else base


def parse_topic(topic: str) -> TopicRef | None:
    """Return the parsed topic, or ``None`` when it is not one of ours."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        return None
    gw = parts[2]
    if not valid_id(gw):
        return None
    try:
        if len(parts) == 4:
            return TopicRef(gw, Kind(parts[3]))
        if len(parts) == 6 and parts[3] == "terminal" and valid_id(parts[4]):
            return TopicRef(gw, Kind(parts[5]), parts[4])
    except ValueError:
        return None
    return None
