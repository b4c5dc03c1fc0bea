"""0006: webhook deliveries claimed per row (issue #14): any number of collectors may run the
webhook notifier on one store. Adds one table; the old single cursor (``meta`` key
``alerts.webhook.cursor``) is read once, as the point delivery continues from.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FLOAT: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("event_id", INT, nullable=False),
        sa.Column("alert_id", INT, nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'claimed'"), nullable=False),
        sa.Column("claimed_by", sa.Text(), nullable=False),
        sa.Column("claimed_until", FLOAT, nullable=False),
        sa.Column("attempts", INT, server_default=sa.text("1"), nullable=False),
        sa.Column("done_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("target", "event_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
