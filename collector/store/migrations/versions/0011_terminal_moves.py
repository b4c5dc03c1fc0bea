"""0011: a terminal moved to another gateway in the inventory is refused from the old one at once.

Until 0011 a running collector learnt of a move (an import giving a terminal another
``gateway_id``) only when the new gateway first reported the terminal: until then it still took
the old gateway's messages about it. Each import that moves terminals now bumps the ``meta``
counter ``terminal_moves`` and stamps the moved rows with it (``terminals.moved_seq``), and
the collectors read the rows moved since the counter they last saw, once per batch
(collector/enrolment.py). Existing rows are stamped 0: never moved, nothing to re-read.

Frozen: never edit a released migration; add the next number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "terminals", sa.Column("moved_seq", INT, nullable=False, server_default=sa.text("0"))
    )
    op.create_index("terminals_moved", "terminals", ["moved_seq"])


def downgrade() -> None:
    op.drop_index("terminals_moved", table_name="terminals")
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("moved_seq")
