"""0004: policies set from the console (issue #15, finding 7): a firmware policy's target
version and who set it; maintenance schedules per task type and scope; operator-defined task
types; the task a service visit did and, per device and task, when it was last done.

Adds two columns to ``firmware_policy`` and one to ``services`` (``ADD COLUMN`` with a
default: instant on both engines) and three tables.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def _t(name: str, default: str | None = None, nullable: bool = False) -> sa.Column[str]:
    sd = None if default is None else sa.text("'" + default + "'")
    return sa.Column(name, sa.Text(), server_default=sd, nullable=nullable)


def upgrade() -> None:
    for name in ("target_version", "updated_by", "updated_at"):
        op.add_column("firmware_policy", sa.Column(name, sa.Text(), nullable=True))
    op.add_column("services", _t("task_type", ""))
    op.create_table(
        "maintenance_schedules",
        sa.Column("id", INT, sa.Identity(always=False), nullable=False),
        _t("task_type"),
        _t("scope_type"),
        _t("scope_id"),
        sa.Column("every_n", INT, nullable=True),
        _t("every_unit", ""),
        _t("usage_metric", ""),
        sa.Column("usage_limit", FLOAT, nullable=True),
        sa.Column("due_soon_days", INT, server_default=sa.text("14"), nullable=False),
        _t("updated_by"),
        _t("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_type", "scope_type", "scope_id"),
        if_not_exists=True,
    )
    op.create_table(
        "maintenance_task_types",
        _t("name"),
        _t("created_by"),
        _t("created_at"),
        sa.PrimaryKeyConstraint("name"),
        if_not_exists=True,
    )
    op.create_table(
        "maintenance_done",
        _t("subject_type"),
        _t("subject_id"),
        _t("task_type"),
        _t("done_at"),
        sa.Column("receipts_at", INT, nullable=True),
        sa.Column("errors_at", INT, nullable=True),
        sa.PrimaryKeyConstraint("subject_type", "subject_id", "task_type"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("maintenance_done")
    op.drop_table("maintenance_task_types")
    op.drop_table("maintenance_schedules")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("task_type")
    with op.batch_alter_table("firmware_policy") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("updated_by")
        batch.drop_column("target_version")
