"""0008: a transaction window's replay key leads with its terminal and window end (issue #16).

Release 0 keyed ``txn_aggregates`` by (gateway, terminal, window start, window end, currency,
acquirer) and read a terminal's windows (the case page's evidence) through a second index,
(terminal, window end). Both land each window at a random place (by gateway, by terminal):
two index pages written per window where one does. The key is now one unique index,
``txn_aggregates_key`` on (terminal, window end, gateway, window start, currency, acquirer):
the same columns, so the same windows are one window, and it serves the case page's reads;
``txn_aggregates_terminal`` is dropped. Measured in docs/transactions.md.

SQLite cannot drop the unnamed constraint of release 0 (its ``sqlite_autoindex_*``), so the
table is rebuilt: copied row for row, ids kept (the silence and spike folds' cursors point
at them), in one transaction with the rest of the upgrade. PostgreSQL drops the constraint.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = ["terminal_id", "window_end", "gateway_id", "window_start", "currency", "acquirer"]
OLD_KEY = ["gateway_id", "terminal_id", "window_start", "window_end", "currency", "acquirer"]
COUNTS = [
    "historical",
    "approved",
    "declined",
    "reversed",
    "timed_out",
    "error",
    "rc_approved",
    "rc_cardholder_decline",
    "rc_issuer_unavailable",
    "rc_format_or_terminal_error",
    "rc_other",
    "approved_amount",
    "refunded_amount",
]


def _columns() -> list[sa.Column[Any]]:
    """txn_aggregates' columns, in release 0's order."""

    def text(name: str, default: str | None = None) -> sa.Column[Any]:
        sd = None if default is None else sa.text(default)
        return sa.Column(name, sa.Text(), server_default=sd, nullable=False)

    return [
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        text("gateway_id"),
        text("terminal_id", "''"),
        text("window_start"),
        text("window_end"),
        text("received_at"),
        *(sa.Column(c, INT, server_default=sa.text("0"), nullable=False) for c in COUNTS),
        text("currency", "''"),
        sa.Column("last_txn_at", sa.Text(), nullable=True),
        text("acquirer", "''"),
    ]


def _rebuild_sqlite(*unique: sa.UniqueConstraint) -> None:
    """txn_aggregates copied into a table without release 0's unnamed key (or with it,
    ``unique``), every row and id kept; its indexes are made again by the caller."""
    columns = _columns()
    op.create_table("txn_aggregates_0008", *columns, sa.PrimaryKeyConstraint("id"), *unique)
    names = ", ".join(c.name for c in columns)
    op.execute(f"INSERT INTO txn_aggregates_0008 ({names}) SELECT {names} FROM txn_aggregates")
    op.drop_table("txn_aggregates")  # and its indexes
    op.rename_table("txn_aggregates_0008", "txn_aggregates")
    op.create_index("txn_aggregates_received", "txn_aggregates", ["received_at"])


def _pg_unique_constraint(columns: list[str]) -> str | None:
    """The name PostgreSQL gave release 0's unnamed unique constraint on ``columns``."""
    found = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE t.relname = 'txn_aggregates' AND c.contype = 'u' "
                "AND t.relnamespace = to_regnamespace(current_schema()) "
                "AND ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n "
                "ORDER BY k.i) = :cols"
            ),
            {"cols": columns},
        )
        .scalar()
    )
    return None if found is None else str(found)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite()
    else:
        name = _pg_unique_constraint(OLD_KEY)
        if name is not None:
            op.drop_constraint(name, "txn_aggregates", type_="unique")
        op.drop_index("txn_aggregates_terminal", "txn_aggregates", if_exists=True)
    op.create_index("txn_aggregates_key", "txn_aggregates", KEY, unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(sa.UniqueConstraint(*OLD_KEY))
    else:
        op.drop_index("txn_aggregates_key", "txn_aggregates")
        op.create_unique_constraint(None, "txn_aggregates", OLD_KEY)  # named as release 0
    op.create_index("txn_aggregates_terminal", "txn_aggregates", ["terminal_id", "window_end"])
