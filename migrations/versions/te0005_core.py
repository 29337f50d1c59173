"""Previews record the mode they were made in; preview status gets its CHECK.

Revision ID: te0005_core
Revises: te0003_dropin
Create Date: 2026-11-30

An execute in a different mode than its preview (orders on/off, paper/live) is refused,
so the preview stores `orders_enabled` and `trading_mode`. Rows made before this
revision have NULL there and are refused at execute ("preview again"); previews expire
within minutes, so nothing usable is lost. Preview statuses outside the known set
(none are written by this module) become EXPIRED, which can never be executed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "te0005_core"
down_revision: str | None = "te0003_dropin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIEW_STATUSES = "'ACTIVE', 'EXPIRED', 'EXECUTED', 'SIMULATED'"


def upgrade() -> None:
    op.add_column("trade_previews", sa.Column("orders_enabled", sa.Boolean(), nullable=True))
    op.add_column("trade_previews", sa.Column("trading_mode", sa.String(8), nullable=True))
    op.create_check_constraint(
        op.f("ck_trade_previews_trading_mode"), "trade_previews", "trading_mode IN ('paper', 'live')"
    )
    op.execute(f"UPDATE trade_previews SET status = 'EXPIRED' WHERE status NOT IN ({PREVIEW_STATUSES})")
    op.create_check_constraint(op.f("ck_trade_previews_status"), "trade_previews", f"status IN ({PREVIEW_STATUSES})")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_trade_previews_status"), "trade_previews", type_="check")
    op.drop_constraint(op.f("ck_trade_previews_trading_mode"), "trade_previews", type_="check")
    op.drop_column("trade_previews", "trading_mode")
    op.drop_column("trade_previews", "orders_enabled")
