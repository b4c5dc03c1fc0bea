"""0002: transaction health (issue #16): settlement reconciliation, shortfall cases, the
silent-device and failure-spike baselines. Adds tables and indexes only.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def _t(name: str, default: str | None = None, nullable: bool = False) -> sa.Column[str]:
    sd = None if default is None else sa.text("'" + default + "'")
    return sa.Column(name, sa.Text(), server_default=sd, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "settlement_imports",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        _t("name"),
        _t("sha256"),
        _t("imported_at"),
        _t("imported_by"),
        sa.Column("rows", INT, nullable=False),
        sa.Column("bad_rows", INT, server_default=sa.text("0"), nullable=False),
        _t("first_day", ""),
        _t("last_day", ""),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
        if_not_exists=True,
    )
    op.create_table(
        "settlement_rows",
        _t("terminal_id"),
        _t("batch_id"),
        _t("merchant_id"),
        _t("business_date"),
        sa.Column("count", INT, nullable=False),
        sa.Column("amount", INT, nullable=False),
        _t("currency"),
        sa.Column("import_id", INT, nullable=False),
        sa.PrimaryKeyConstraint("terminal_id", "batch_id"),
        if_not_exists=True,
    )
    op.create_index("settlement_rows_day", "settlement_rows", ["business_date"], if_not_exists=True)
    op.create_index("txn_batches_closed", "txn_batches", ["closed_at"], if_not_exists=True)
    op.create_table(
        "shortfall_cases",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        _t("kind"),
        _t("status", "open"),
        _t("terminal_id"),
        _t("gateway_id", ""),
        _t("site_id", ""),
        _t("region_id", ""),
        _t("merchant_id", ""),
        _t("batch_id"),
        _t("business_date"),
        sa.Column("terminal_count", INT, nullable=True),
        sa.Column("terminal_amount", INT, nullable=True),
        sa.Column("settled_count", INT, nullable=True),
        sa.Column("settled_amount", INT, nullable=True),
        _t("currency", ""),
        sa.Column("difference", INT, nullable=False),
        _t("closed_at_terminal", nullable=True),
        sa.Column("import_id", INT, nullable=False),
        _t("opened_at"),
        _t("updated_at"),
        _t("cause", ""),
        _t("follow_up_due", nullable=True),
        _t("closed_at", nullable=True),
        _t("closed_by", nullable=True),
        _t("resolution", ""),
        sa.Column("recovered_amount", INT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "shortfall_cases_one_open",
        "shortfall_cases",
        ["terminal_id", "batch_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
        if_not_exists=True,
    )
    op.create_index(
        "shortfall_cases_status",
        "shortfall_cases",
        ["status", "business_date"],
        if_not_exists=True,
    )
    op.create_table(
        "case_calls",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        sa.Column("case_id", INT, nullable=False),
        _t("at"),
        _t("caller"),
        _t("party"),
        _t("outcome"),
        _t("note", ""),
        _t("next_follow_up", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("case_calls_case", "case_calls", ["case_id", "at"], if_not_exists=True)
    op.create_table(
        "txn_baseline",
        _t("subject_type"),
        _t("device_id"),
        sa.Column("how", INT, nullable=False),
        sa.Column("txn", FLOAT, nullable=False),
        sa.Column("hours", FLOAT, nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "device_id", "how"),
        if_not_exists=True,
    )
    op.create_table(
        "txn_state",
        _t("subject_type"),
        _t("device_id"),
        _t("last_txn_at", nullable=True),
        _t("last_window_end", ""),
        sa.Column("window_s", FLOAT, server_default=sa.text("0"), nullable=False),
        sa.Column("live", INT, server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "device_id"),
        if_not_exists=True,
    )
    op.create_table(
        "txn_site_baseline",
        _t("site_id"),
        sa.Column("how", INT, nullable=False),
        sa.Column("attempted", FLOAT, nullable=False),
        sa.Column("issuer_unavailable", FLOAT, nullable=False),
        sa.Column("timed_out", FLOAT, nullable=False),
        sa.Column("reversed", FLOAT, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "how"),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in (
        "txn_site_baseline",
        "txn_state",
        "txn_baseline",
        "case_calls",
        "shortfall_cases",
    ):
        op.drop_table(table)
    op.drop_index("txn_batches_closed", "txn_batches")
    op.drop_table("settlement_rows")
    op.drop_table("settlement_imports")
