"""SnapTrade-era tables, as the platform had them before broker adapters.

Revision ID: te0001
Revises:
Create Date: 2026-11-23

A deployment that already has these tables just upgrades (`tradeexec db upgrade`, or
`alembic upgrade heads` in a host environment): this revision then adopts them instead of
creating them - db/adoption.py checks their shape against the tables below, fixes what is
safe and refuses what is not. Adopted tables are marked (a table comment) and this
revision's downgrade refuses to drop them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("trade_execution",)
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(20, 8)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names()) & {"trade_previews", "trade_orders"}
    if existing == {"trade_previews", "trade_orders"}:
        from db.adoption import adopt_existing_tables

        adopt_existing_tables(bind)  # the platform's tables: checked, fixed where safe, or refused
        return
    if existing:
        raise RuntimeError(f"only {existing.pop()} exists: the SnapTrade-era schema is incomplete; nothing changed")
    op.create_table(
        "trade_previews",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("ticker", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("limit_price", MONEY, nullable=True),
        sa.Column("stop_price", MONEY, nullable=True),
        sa.Column("time_in_force", sa.String(8), server_default=sa.text("'Day'"), nullable=False),
        sa.Column("estimated_price", MONEY, nullable=True),
        sa.Column("estimated_total", MONEY, nullable=True),
        sa.Column("estimated_commission", MONEY, nullable=True),
        sa.Column("universal_symbol_id", sa.String(128), nullable=True),
        sa.Column("snaptrade_trade_id", sa.String(64), nullable=True),
        sa.Column("impact", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'ACTIVE'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_previews"),
    )
    op.create_table(
        "trade_orders",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("preview_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("brokerage_order_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filled_quantity", MONEY, server_default=sa.text("0"), nullable=False),
        sa.Column("average_fill_price", MONEY, nullable=True),
        sa.Column(
            "brokerage_response", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_orders"),
        sa.ForeignKeyConstraint(
            ["preview_id"],
            ["trade_previews.id"],
            name="fk_trade_orders_preview_id_trade_previews",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("preview_id", name="uq_trade_orders_preview_id"),
    )
    op.create_index("ix_trade_orders_account_id_created_at", "trade_orders", ["account_id", "created_at"])


ADOPTED_MARK = "tradeexec: adopted at te0001"


def downgrade() -> None:
    adopted = op.get_bind().execute(
        sa.text("SELECT obj_description(to_regclass('trade_previews'), 'pg_class')")
    ).scalar_one_or_none()
    if adopted == ADOPTED_MARK:
        raise RuntimeError(
            "refusing to downgrade below te0001: trade_previews/trade_orders were the platform's tables before "
            "this module adopted them, so they are never dropped"
        )
    op.drop_index("ix_trade_orders_account_id_created_at", table_name="trade_orders")
    op.drop_table("trade_orders")
    op.drop_table("trade_previews")
