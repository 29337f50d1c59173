"""Order sets (brackets): child legs as their own trade_orders rows, anchored on the entry row.

Revision ID: te0008_order_sets
Revises: te0007_working_orders
Create Date: 2026-11-30

A bracket is one preview and one execute. Its entry row keeps `preview_id` (UNIQUE: still the
exactly-once anchor of the whole set, as the platform relies on); each child leg (take-profit,
stop-loss) is a row with `preview_id` NULL, `parent_order_id` the entry row and its `leg_role`.
Every row has exactly one of the two anchors (CHECK), and a set has at most one leg per role
(UNIQUE). The downgrade deletes the child legs' rows and events' links stay as plain ids.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0008_order_sets"
down_revision: str | None = "te0007_working_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trade_orders", sa.Column("parent_order_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column("trade_orders", sa.Column("leg_role", sa.String(16), nullable=True))
    op.create_foreign_key("fk_trade_orders_parent_order_id_trade_orders", "trade_orders", "trade_orders",
                          ["parent_order_id"], ["id"], ondelete="RESTRICT")
    op.create_check_constraint("ck_trade_orders_leg_role", "trade_orders",
                               "leg_role IN ('entry', 'take_profit', 'stop_loss')")
    op.alter_column("trade_orders", "preview_id", existing_type=postgresql.UUID(as_uuid=True), nullable=True)
    op.create_check_constraint(
        "ck_trade_orders_leg_anchor", "trade_orders",
        "(preview_id IS NOT NULL AND parent_order_id IS NULL) OR "
        "(preview_id IS NULL AND parent_order_id IS NOT NULL AND leg_role IN ('take_profit', 'stop_loss'))",
    )
    op.create_unique_constraint("uq_trade_orders_parent_order_id_leg_role", "trade_orders",
                                ["parent_order_id", "leg_role"])
    op.create_index("ix_trade_orders_parent_order_id", "trade_orders", ["parent_order_id"])


def downgrade() -> None:
    op.drop_index("ix_trade_orders_parent_order_id", table_name="trade_orders")
    op.drop_constraint("uq_trade_orders_parent_order_id_leg_role", "trade_orders", type_="unique")
    op.drop_constraint("ck_trade_orders_leg_anchor", "trade_orders", type_="check")
    op.execute("DELETE FROM trade_orders WHERE preview_id IS NULL")
    op.alter_column("trade_orders", "preview_id", existing_type=postgresql.UUID(as_uuid=True), nullable=False)
    op.drop_constraint("ck_trade_orders_leg_role", "trade_orders", type_="check")
    op.drop_constraint("fk_trade_orders_parent_order_id_trade_orders", "trade_orders", type_="foreignkey")
    op.drop_column("trade_orders", "leg_role")
    op.drop_column("trade_orders", "parent_order_id")
