"""A shortfall case as production opens one: a batch the collector's own transaction writer
stores, then a settlement file the real reconciler imports against it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from collector.actions import Actor, Role
from collector.reconcile import import_settlement
from collector.store import db
from collector.store.transactions import TxnAggregate, write_transactions
from telemetry.models import BatchClose, Transactions

HEADER = "merchant,terminal,batch,business_date,count,amount,currency\n"


def gateway_of(path: Path | str, terminal: str) -> str:
    """The gateway the store lists ``terminal`` behind: the one whose batch open_case stores."""
    conn = db.connect(path)
    try:
        row = conn.execute(
            "SELECT gateway_id FROM terminals WHERE terminal_id = ?", (terminal,)
        ).fetchone()
    finally:
        conn.close()
    return str(row[0])


def open_case(
    path: Path,
    gateway: str,
    terminal: str,
    batch: str,
    amount: int,
    settled: str,
    now: datetime,
    settled_currency: str = "CNY",
) -> int:
    """A batch of ``amount`` fen closed by ``terminal`` 12 h before ``now``, settled at
    ``settled`` yuan (or ``settled_currency``'s major unit) in a file imported at ``now``:
    the reconciler opens a case."""
    conn = db.connect(path)
    try:
        closed = now - timedelta(hours=12)
        msg = Transactions(
            gw=gateway,
            ts=closed,
            since=closed - timedelta(minutes=20),
            until=closed,
            outcomes={"approved": 12},
            responses={"approved": 12},
            approved_amount=120_000,
            currency="CNY",
            batch=BatchClose(id=batch, count=80, amount=amount, currency="CNY", closed_at=closed),
        )
        with conn:
            write_transactions(conn, [TxnAggregate(gateway, terminal, closed, msg)])
        day = closed.date().isoformat()
        merchant = "M-" + str(
            conn.execute(
                "SELECT g.site_id FROM gateways g WHERE g.gateway_id = ?", (gateway,)
            ).fetchone()[0]
        )
        result = import_settlement(
            conn,
            (
                HEADER + f"{merchant},{terminal},{batch},{day},80,{settled},{settled_currency}\n"
            ).encode(),
            name=f"settle-{batch}.csv",
            actor=Actor("acquirer-sftp", Role.OPERATOR),
            now=now,
        )
        assert result.opened == {"mismatch": 1}, result
        return int(
            conn.execute("SELECT id FROM shortfall_cases WHERE batch_id = ?", (batch,)).fetchone()[
                0
            ]
        )
    finally:
        conn.close()
