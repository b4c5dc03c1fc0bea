"""0003: snoozing an alert until a time (issue #15, the morning check): who snoozed it and
until when (UTC text, like every stored time). Adds nullable columns only.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One batch: SQLite adds the columns in place (ALTER TABLE ADD COLUMN), no table copy.
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("snoozed_until", sa.Text(), nullable=True))
        batch.add_column(sa.Column("snoozed_by", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("snoozed_by")
        batch.drop_column("snoozed_until")
