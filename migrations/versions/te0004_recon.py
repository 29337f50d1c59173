"""Order lifecycle after placement: broker-precision fill columns, re-check and attention flags.

Revision ID: te0004_recon
Revises: te0003_ui
Create Date: 2026-11-30

- Fill columns keep what the broker reports (scale 16 instead of 8), so a poll never
  sees a rounded value as a change.
- `recheck_until`: a final status that was inferred (not found at the broker, a rejection
  that was not a refusal of the placement) stays in reconciliation's re-check set until then.
- `attention`: a condition an operator must look at (missing at the broker, over-filled);
  `missing_since` is when the broker first stopped showing a working order.
- `broker_quantity`: the order quantity the broker last reported (an edit at the broker shows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "te0004_recon"
down_revision: str | None = "te0003_ui"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = sa.Numeric(20, 8)
WIDE = sa.Numeric(36, 16)
FILL_COLUMNS = ("filled_quantity", "remaining_quantity", "average_fill_price", "commission")
RECHECK_INDEX = "ix_trade_orders_recheck_until"


def upgrade() -> None:
    for column in FILL_COLUMNS:
        op.alter_column("trade_orders", column, type_=WIDE, existing_type=OLD)
    op.add_column("trade_orders", sa.Column("broker_quantity", WIDE, nullable=True))
    op.add_column("trade_orders", sa.Column("recheck_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("trade_orders", sa.Column("attention", sa.String(40), nullable=True))
    op.add_column("trade_orders", sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        RECHECK_INDEX, "trade_orders", ["recheck_until"], postgresql_where=sa.text("recheck_until IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index(RECHECK_INDEX, table_name="trade_orders")
    for column in ("missing_since", "attention", "recheck_until", "broker_quantity"):
        op.drop_column("trade_orders", column)
    for column in FILL_COLUMNS:
        # Values finer than 8 places are rounded on the way back, as the old columns stored them.
        op.alter_column("trade_orders", column, type_=OLD, existing_type=WIDE,
                        postgresql_using=f"round({column}, 8)")
