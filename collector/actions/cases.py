"""Working a shortfall case (少刷钱, collector.reconcile): its cause, the calls made about it
with the next follow-up, and its closure with the amount recovered. Every action is one
transaction with its audit row; a case that is closed takes no more work."""

from __future__ import annotations

from datetime import datetime

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.reconcile import CAUSES
from collector.store.db import Connection
from collector.store.times import to_db

PARTIES = ("merchant", "acquirer", "store", "technician", "other")
OUTCOMES = ("reached", "no_answer", "promised_callback", "resolved", "escalated")


def _open_case(conn: Connection, case_id: int) -> tuple[str, str, str]:
    row = conn.execute(
        "SELECT status, terminal_id, batch_id FROM shortfall_cases WHERE id = ?", (case_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"shortfall case {case_id} does not exist")
    if row[0] != "open":
        raise InvalidAction(f"shortfall case {case_id} is closed; nothing more to do on it")
    return str(row[0]), str(row[1]), str(row[2])


def set_case_cause(conn: Connection, actor: Actor, case_id: int, cause: str, now: datetime) -> None:
    _require(actor, Role.OPERATOR, "work shortfall cases")
    if cause not in CAUSES:
        raise InvalidAction(f"unknown cause {cause!r}; one of {', '.join(CAUSES)}")
    with conn:
        _open_case(conn, case_id)
        conn.execute(
            "UPDATE shortfall_cases SET cause = ?, updated_at = ? WHERE id = ? AND status = 'open'",
            (cause, to_db(now), case_id),
        )
        _audit(conn, actor, "case.cause", f"case:{case_id}", now, {"cause": cause})


def log_case_call(
    conn: Connection,
    actor: Actor,
    case_id: int,
    *,
    party: str,
    outcome: str,
    note: str,
    next_follow_up: datetime | None,
    now: datetime,
) -> int:
    """A call about the case: who called whom, when, the outcome and the next follow-up (the
    case's follow-up due date; ``None`` keeps the current one). Returns the call's id."""
    _require(actor, Role.OPERATOR, "work shortfall cases")
    if party not in PARTIES:
        raise InvalidAction(f"unknown party {party!r}; one of {', '.join(PARTIES)}")
    if outcome not in OUTCOMES:
        raise InvalidAction(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    if next_follow_up is not None and next_follow_up <= now:
        raise InvalidAction("the next follow-up must be in the future")
    with conn:
        _open_case(conn, case_id)
        call_id = int(
            conn.execute(
                "INSERT INTO case_calls (case_id, at, caller, party, outcome, note, next_follow_up) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    case_id,
                    to_db(now),
                    actor.name,
                    party,
                    outcome,
                    note.strip()[:2000],
                    to_db(next_follow_up) if next_follow_up else None,
                ),
            ).fetchone()[0]
        )
        if next_follow_up is not None:
            conn.execute(
                "UPDATE shortfall_cases SET follow_up_due = ?, updated_at = ? WHERE id = ?",
                (to_db(next_follow_up), to_db(now), case_id),
            )
        _audit(
            conn,
            actor,
            "case.call",
            f"case:{case_id}",
            now,
            {"party": party, "outcome": outcome, "next_follow_up": next_follow_up},
        )
    return call_id


def close_case(
    conn: Connection,
    actor: Actor,
    case_id: int,
    *,
    resolution: str,
    recovered_amount: int,
    now: datetime,
) -> None:
    """Close with what was found and the amount recovered (minor units of the case's currency)."""
    _require(actor, Role.OPERATOR, "work shortfall cases")
    if not resolution.strip():
        raise InvalidAction("say how the case was resolved before closing it")
    if recovered_amount < 0:
        raise InvalidAction("the recovered amount cannot be negative")
    with conn:
        _open_case(conn, case_id)
        cur = conn.execute(
            "UPDATE shortfall_cases SET status = 'closed', closed_at = ?, closed_by = ?, "
            "resolution = ?, recovered_amount = ?, updated_at = ? "
            "WHERE id = ? AND status = 'open'",
            (
                to_db(now),
                actor.name,
                resolution.strip()[:2000],
                recovered_amount,
                to_db(now),
                case_id,
            ),
        )
        if cur.rowcount != 1:
            raise InvalidAction(f"shortfall case {case_id} changed while closing; reload")
        _audit(
            conn,
            actor,
            "case.close",
            f"case:{case_id}",
            now,
            {"resolution": resolution.strip(), "recovered_amount": recovered_amount},
        )
