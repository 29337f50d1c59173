"""Modifications of working orders (issue 16): previewed, confirmed, applied once.

Revision ID: te0009_modify
Revises: te0008_order_sets
Create Date: 2026-11-30

`trade_modifications` holds one row per previewed change of a working order: the old and the
new terms, the mode it was previewed in, its status (ACTIVE until executed or expired; SENDING
while the broker call runs; then APPLIED, REJECTED, FAILED or UNKNOWN; SIMULATED when orders are
off) and the broker's answer. The conditional UPDATE ACTIVE -> SENDING is what applies it once.
`trade_orders` gains the order's current terms (NULL: as previewed), written when the broker
confirms a modification.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0009_modify"
down_revision: str | None = "te0008_order_sets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'ACTIVE', 'EXPIRED', 'SENDING', 'APPLIED', 'REJECTED', 'FAILED', 'UNKNOWN', 'SIMULATED'"
MONEY = sa.Numeric(20, 8)
TERMS = ("quantity", "limit_price", "stop_price")


def upgrade() -> None:
    for name in TERMS:
        op.add_column("trade_orders", sa.Column(name, MONEY, nullable=True))
    op.add_column("trade_orders", sa.Column("order_options", postgresql.JSONB(), nullable=True))
    op.create_table(
        "trade_modifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("broker_provider", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'ACTIVE'"), nullable=False),
        sa.Column("old_terms", postgresql.JSONB(), nullable=False),
        sa.Column("new_terms", postgresql.JSONB(), nullable=False),
        sa.Column("new_quantity", MONEY, nullable=False),
        sa.Column("estimated_total", MONEY, nullable=True),
        sa.Column("impact", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("orders_enabled", sa.Boolean(), nullable=False),
        sa.Column("trading_mode", sa.String(8), nullable=False),
        sa.Column("user_email", sa.String(254), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("broker_response", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_trade_modifications_status")),
        sa.CheckConstraint("new_quantity > 0", name=op.f("ck_trade_modifications_new_quantity_positive")),
        sa.CheckConstraint("trading_mode IN ('paper', 'live')", name=op.f("ck_trade_modifications_trading_mode")),
        sa.ForeignKeyConstraint(["order_id"], ["trade_orders.id"], ondelete="RESTRICT",
                                name=op.f("fk_trade_modifications_order_id_trade_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trade_modifications")),
    )
    op.create_index(op.f("ix_trade_modifications_order_id_created_at"), "trade_modifications",
                    ["order_id", "created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trade_modifications_order_id_created_at"), table_name="trade_modifications")
    op.drop_table("trade_modifications")
    op.drop_column("trade_orders", "order_options")
    for name in reversed(TERMS):
        op.drop_column("trade_orders", name)
