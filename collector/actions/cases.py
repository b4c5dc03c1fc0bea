"""Working a shortfall case (少刷钱, collector.reconcile): its cause, the calls made about it
with the next follow-up, and its closure with the amount recovered. Every action is one
transaction with its audit row; a case that is closed takes no more work."""

from __future__ import annotations

from datetime import datetime

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.store.db import Connection
from collector.store.times import to_db

# A case's cause, as the operator finds it (the console offers these, in both languages).
CAUSES = ("operator_error", "duplicated_refund", "system_fault", "settlement_pending", "other")
PARTIES = ("merchant", "acquirer", "store", "technician", "other")
OUTCOMES = ("reached", "no_answer", "promised_callback", "resolved", "escalated")


def _open_case(conn: Connection, case_id: int, seen: str | None = None) -> int:
    """The open case's difference (minor units). ``seen``: the case's ``updated_at`` when
    the operator read it; a case changed since (by another operator, or a settlement that
    closed it) is refused, so one person's work never silently replaces another's."""
    row = conn.execute(
        "SELECT status, difference, updated_at, closed_by FROM shortfall_cases WHERE id = ?",
        (case_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"shortfall case {case_id} does not exist")
    if row[0] != "open":
        raise InvalidAction(
            f"shortfall case {case_id} was closed by {row[3]}; nothing more to do on it"
        )
    if seen is not None and str(row[2]) != seen:
        raise InvalidAction(f"shortfall case {case_id} changed since you read it; reload")
    return int(row[1])


def set_case_cause(
    conn: Connection,
    actor: Actor,
    case_id: int,
    cause: str,
    now: datetime,
    *,
    seen: str | None = None,
) -> None:
    """``seen``: the case's ``updated_at`` as the operator read it (see ``_open_case``)."""
    _require(actor, Role.OPERATOR, "work shortfall cases")
    if cause not in CAUSES:
        raise InvalidAction(f"unknown cause {cause!r}; one of {', '.join(CAUSES)}")
    with conn:
        _open_case(conn, case_id, seen)
        cur = conn.execute(
            "UPDATE shortfall_cases SET cause = ?, updated_at = ? WHERE id = ? AND status = 'open'"
            + (" AND updated_at = ?" if seen is not None else ""),
            (cause, to_db(now), case_id, *([seen] if seen is not None else [])),
        )
        if cur.rowcount != 1:
            raise InvalidAction(f"shortfall case {case_id} changed since you read it; reload")
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
    caller: str | None = None,
) -> int:
    """A call about the case: who called (``caller``, the operator logging it when not
    given) whom, when, the outcome and the next follow-up (the case's follow-up due date;
    ``None`` keeps the current one). Returns the call's id."""
    _require(actor, Role.OPERATOR, "work shortfall cases")
    who = actor.name if caller is None else caller.strip()
    if not who:
        raise InvalidAction("say who called")
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
                    who[:200],
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
            {
                "caller": who[:200],
                "party": party,
                "outcome": outcome,
                "next_follow_up": to_db(next_follow_up) if next_follow_up else None,
            },
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
    seen: str | None = None,
) -> None:
    """Close with what was found and the amount recovered (minor units of the case's
    currency, at most the difference). ``seen``: see ``_open_case``."""
    _require(actor, Role.OPERATOR, "work shortfall cases")
    if not resolution.strip():
        raise InvalidAction("say how the case was resolved before closing it")
    if recovered_amount < 0:
        raise InvalidAction("the recovered amount cannot be negative")
    with conn:
        difference = _open_case(conn, case_id, seen)
        if recovered_amount > abs(difference):
            raise InvalidAction(
                f"the recovered amount {recovered_amount} is more than the case's difference "
                f"{abs(difference)} (minor units)"
            )
        cur = conn.execute(
            "UPDATE shortfall_cases SET status = 'closed', closed_at = ?, closed_by = ?, "
            "resolution = ?, recovered_amount = ?, updated_at = ? "
            "WHERE id = ? AND status = 'open'"
            + (" AND updated_at = ?" if seen is not None else ""),
            (
                to_db(now),
                actor.name,
                resolution.strip()[:2000],
                recovered_amount,
                to_db(now),
                case_id,
                *([seen] if seen is not None else []),
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
