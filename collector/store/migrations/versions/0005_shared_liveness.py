"""0005: several collectors on one store (issue #14): the liveness state of every subject,
the collectors sharing the subscription, and the fleet's vision. Adds tables and indexes only.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def _t(name: str, default: str | None = None, nullable: bool = False) -> sa.Column[str]:
    sd = None if default is None else sa.text("'" + default + "'")
    return sa.Column(name, sa.Text(), server_default=sd, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "liveness_state",
        _t("subject_type"),
        _t("subject_id"),
        _t("gateway_id", ""),
        _t("status", "unknown"),
        _t("since", nullable=True),
        sa.Column("session", INT, nullable=True),
        sa.Column("ended_session", INT, nullable=True),
        sa.Column("seq", INT, nullable=True),
        sa.Column("interval", FLOAT, nullable=True),
        sa.Column("deadline", FLOAT, nullable=True),
        _t("deadline_wall", nullable=True),
        _t("pending_down_at", nullable=True),
        _t("pending_down_reason", nullable=True),
        sa.Column("born_epoch", INT, server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "subject_id"),
        if_not_exists=True,
    )
    op.create_index("liveness_state_deadline", "liveness_state", ["deadline"], if_not_exists=True)
    op.create_index("liveness_state_gateway", "liveness_state", ["gateway_id"], if_not_exists=True)
    op.create_table(
        "collector_members",
        _t("member_id"),
        sa.Column("connected", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("beat", FLOAT, nullable=False),
        _t("host", ""),
        sa.PrimaryKeyConstraint("member_id"),
        if_not_exists=True,
    )
    op.create_table(
        "liveness_fleet",
        sa.Column("fleet_id", INT, nullable=False, autoincrement=False),
        sa.Column("blind_since", FLOAT, nullable=True),
        sa.Column("epoch", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("restart_until", FLOAT, nullable=True),
        _t("restart_wall", nullable=True),
        sa.Column("restarting", INT, server_default=sa.text("0"), nullable=False),
        sa.Column("restart_pending", INT, server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("fleet_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in ("liveness_fleet", "collector_members"):
        op.drop_table(table)
    op.drop_index("liveness_state_gateway", "liveness_state")
    op.drop_index("liveness_state_deadline", "liveness_state")
    op.drop_table("liveness_state")
