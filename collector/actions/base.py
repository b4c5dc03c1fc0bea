"""Who may act (roles), the action errors, and the audit row every action writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from collector.store import db
from collector.store.times import to_db


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise InvalidAction(f"unknown role {name!r}; use viewer, operator or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role


class ActionError(Exception):
    """An operator action that was not applied."""


class PermissionDenied(ActionError):
    pass


class NotFound(ActionError):
    pass


class InvalidAction(ActionError):
    pass


def _require(actor: Actor, role: Role, action: str) -> None:
    if actor.role < role:
        raise PermissionDenied(
            f"{actor.name} ({actor.role.label}) may not {action}: needs {role.label}"
        )


def _audit(
    conn: db.Connection,
    actor: Actor,
    action: str,
    subject: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        (to_db(now), actor.name, action, subject, json.dumps(details, sort_keys=True, default=str)),
    )


def record_audit(
    conn: db.Connection,
    actor_name: str,
    action: str,
    subject: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    """One ``audit_log`` row in its own transaction, for services that are not console
    actions (posfleet-notify records each delivery, failure and ack link here)."""
    with conn:
        _audit(conn, Actor(actor_name, Role.VIEWER), action, subject, now, details)
