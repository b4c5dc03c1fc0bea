"""Value types shared by liveness, alerts, store and metrics (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Liveness(StrEnum):
    UNKNOWN = "unknown"  # registered, never seen
    ONLINE = "online"
    LATE = "late"  # past its heartbeat deadline
    DOWN = "down"  # will, graceful offline, or past deadline + grace


class SubjectType(StrEnum):
    GATEWAY = "gateway"
    TERMINAL = "terminal"
    SITE = "site"


class DetectedBy(StrEnum):
    WILL = "will"  # Last Will of the current session: the connection died
    DEADLINE = "deadline"  # heartbeats stopped while the connection may be alive
    GRACEFUL = "graceful"  # the agent said offline with a reason
    CHILDREN = "children"  # a site: every gateway behind it is down
    BIRTH = "birth"
    HEARTBEAT = "heartbeat"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Transition:
    """One liveness change: becomes a ``state_changes`` row; alerts and incidents follow."""

    subject_type: SubjectType
    subject_id: str
    from_status: Liveness
    to_status: Liveness
    at: datetime  # collector receipt time (aware UTC)
    detected_by: DetectedBy
    reason: str = ""  # e.g. the graceful-offline reason ("upgrade"), or a detail
    planned: bool = False  # graceful offline with a planned reason
    gateway_id: str = ""  # for terminals: the gateway in front of them
