"""When an order was filled or cancelled is stored, not derived from `updated_at`.

Revision ID: te0006_order_times
Revises: te0005_core
Create Date: 2026-11-30

`executed_at` is set when an order's status first becomes EXECUTED (fully filled),
`cancelled_at` when it first becomes CANCELED; later reports never move them.
Rows already EXECUTED or CANCELED get their `updated_at`, the best time known for
them. The downgrade drops the two columns (the derived value is what remains).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "te0006_order_times"
down_revision: str | None = "te0005_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trade_orders", sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("trade_orders", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE trade_orders SET executed_at = updated_at WHERE status = 'EXECUTED'")
    op.execute("UPDATE trade_orders SET cancelled_at = updated_at WHERE status = 'CANCELED'")


def downgrade() -> None:
    op.drop_column("trade_orders", "cancelled_at")
    op.drop_column("trade_orders", "executed_at")
