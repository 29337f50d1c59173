"""Advanced order types (issue 16): longer order_type values and the order's extra options.

Revision ID: te0004_ibkr
Revises: te0004_recon
Create Date: 2026-11-30

TrailingStop, TrailingStopLimit, MarketOnClose and MarketOnOpen join the order types
('TrailingStopLimit' needs 17 characters). The fields only some order types use (trailing amount
or percent, initial trailing stop, limit offset, outside regular trading hours) are kept with the
preview in `order_options`, exactly as validated, so the execute rebuilds the same order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0004_ibkr"
down_revision: str | None = "te0004_recon"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BASIC_TYPES = "order_type IN ('Market', 'Limit', 'Stop', 'StopLimit')"
ALL_TYPES = (
    "order_type IN ('Market', 'Limit', 'Stop', 'StopLimit', 'TrailingStop', 'TrailingStopLimit', "
    "'MarketOnClose', 'MarketOnOpen')"
)


def upgrade() -> None:
    op.drop_constraint(op.f("ck_trade_previews_order_type"), "trade_previews", type_="check")
    op.alter_column("trade_previews", "order_type", type_=sa.String(24), existing_nullable=False)
    op.create_check_constraint(op.f("ck_trade_previews_order_type"), "trade_previews", ALL_TYPES)
    op.add_column(
        "trade_previews",
        sa.Column("order_options", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )


def downgrade() -> None:
    advanced = op.get_bind().execute(sa.text(f"SELECT count(*) FROM trade_previews WHERE NOT ({BASIC_TYPES})"))
    count = advanced.scalar_one()
    if count:
        raise RuntimeError(
            f"refusing to downgrade: {count} preview(s) use order types the older schema cannot hold; "
            "export or delete them first"
        )
    op.drop_column("trade_previews", "order_options")
    op.drop_constraint(op.f("ck_trade_previews_order_type"), "trade_previews", type_="check")
    op.alter_column("trade_previews", "order_type", type_=sa.String(16), existing_nullable=False)
    op.create_check_constraint(op.f("ck_trade_previews_order_type"), "trade_previews", BASIC_TYPES)
