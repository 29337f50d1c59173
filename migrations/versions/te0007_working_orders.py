"""The execute-time holdings check reads an account's working orders through an index of its own.

Revision ID: te0007_working_orders
Revises: te0006_order_times
Create Date: 2026-11-30

The check sums the working orders of one account inside the intent transaction, while it
holds the account's check lock. Through `ix_trade_orders_account_id_created_at` it read the
account's whole order history (and filtered the few working rows out of it), so an execute
grew slower with every order the account ever placed. This partial index holds only the
working orders, keyed by account: the check reads those rows and no others. The predicate is
the working-status set of `db.models.ACTIVE_ORDER_FILTER`, spelled out so the revision stays static.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "te0007_working_orders"
down_revision: str | None = "te0006_order_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKING = "status IN ('PENDING', 'ACCEPTED', 'PARTIAL', 'SUBMITTING', 'UNKNOWN')"


def upgrade() -> None:
    op.create_index(
        "ix_trade_orders_working_account", "trade_orders", ["account_id", "broker_provider"],
        postgresql_where=sa.text(WORKING),
    )


def downgrade() -> None:
    op.drop_index("ix_trade_orders_working_account", table_name="trade_orders")
