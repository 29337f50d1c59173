"""Broker-agnostic columns, the common order status, and the trade_events audit trail.

Revision ID: te0002
Revises: te0001
Create Date: 2026-11-23

Legacy rows become SnapTrade rows: broker_provider defaults to 'snaptrade' and
universal_symbol_id is renamed to broker_symbol_id, so no data is copied or lost.
Legacy order statuses outside the common set are mapped; the original is kept in
brokerage_response->'legacy_status'.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "te0002"
down_revision: str | None = "te0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(20, 8)
EMPTY_JSON = sa.text("'{}'::jsonb")
ORDER_STATUSES = (
    "'PENDING', 'ACCEPTED', 'PARTIAL', 'EXECUTED', 'CANCELED', 'REJECTED', 'FAILED', "
    "'EXPIRED', 'SUBMITTING', 'UNKNOWN', 'SIMULATED'"
)
LEGACY_STATUS_MAP = {
    "PARTIAL_CANCELED": "CANCELED",
    "CANCEL_PENDING": "ACCEPTED",
    "REPLACE_PENDING": "ACCEPTED",
    "REPLACED": "CANCELED",
    "STOPPED": "CANCELED",
    "SUSPENDED": "PENDING",
    "QUEUED": "PENDING",
    "TRIGGERED": "ACCEPTED",
    "ACTIVATED": "ACCEPTED",
    "PENDING_RISK_REVIEW": "PENDING",
    "CONTINGENT_ORDER": "PENDING",
}


def upgrade() -> None:
    op.add_column(
        "trade_previews",
        sa.Column("broker_provider", sa.String(16), server_default=sa.text("'snaptrade'"), nullable=False),
    )
    op.alter_column("trade_previews", "universal_symbol_id", new_column_name="broker_symbol_id")
    op.add_column(
        "trade_previews",
        sa.Column("broker_preview_data", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False),
    )
    op.add_column(
        "trade_previews", sa.Column("validation", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False)
    )
    op.create_check_constraint(op.f("ck_trade_previews_quantity_positive"), "trade_previews", "quantity > 0")
    op.create_check_constraint(op.f("ck_trade_previews_side"), "trade_previews", "side IN ('BUY', 'SELL')")
    op.create_check_constraint(
        op.f("ck_trade_previews_order_type"), "trade_previews", "order_type IN ('Market', 'Limit', 'Stop', 'StopLimit')"
    )
    op.create_check_constraint(
        op.f("ck_trade_previews_time_in_force"), "trade_previews", "time_in_force IN ('Day', 'GTC', 'IOC', 'FOK')"
    )
    op.create_check_constraint(
        op.f("ck_trade_previews_broker_provider"), "trade_previews", "broker_provider IN ('snaptrade', 'ibkr')"
    )
    op.create_index("ix_trade_previews_account_id_created_at", "trade_previews", ["account_id", "created_at"])

    op.add_column(
        "trade_orders",
        sa.Column("broker_provider", sa.String(16), server_default=sa.text("'snaptrade'"), nullable=False),
    )
    op.add_column("trade_orders", sa.Column("client_order_ref", sa.String(64), nullable=True))
    op.add_column("trade_orders", sa.Column("remaining_quantity", MONEY, nullable=True))
    op.add_column("trade_orders", sa.Column("commission", MONEY, nullable=True))
    op.add_column("trade_orders", sa.Column("error_code", sa.String(32), nullable=True))
    op.add_column("trade_orders", sa.Column("error_message", sa.Text(), nullable=True))
    op.add_column("trade_orders", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    for legacy, common in LEGACY_STATUS_MAP.items():
        op.execute(
            sa.text(
                "UPDATE trade_orders SET status = :common, brokerage_response = brokerage_response "
                "|| jsonb_build_object('legacy_status', status) WHERE status = :legacy"
            ).bindparams(common=common, legacy=legacy)
        )
    op.execute(
        "UPDATE trade_orders SET brokerage_response = brokerage_response "
        f"|| jsonb_build_object('legacy_status', status), status = 'UNKNOWN' WHERE status NOT IN ({ORDER_STATUSES})"
    )
    op.create_unique_constraint("uq_trade_orders_client_order_ref", "trade_orders", ["client_order_ref"])
    op.create_check_constraint(
        op.f("ck_trade_orders_broker_provider"), "trade_orders", "broker_provider IN ('snaptrade', 'ibkr')"
    )
    op.create_check_constraint(op.f("ck_trade_orders_filled_nonnegative"), "trade_orders", "filled_quantity >= 0")
    op.create_check_constraint(op.f("ck_trade_orders_status"), "trade_orders", f"status IN ({ORDER_STATUSES})")
    op.create_index("ix_trade_orders_created_at", "trade_orders", ["created_at"])
    op.create_index("ix_trade_orders_brokerage_order_id", "trade_orders", ["brokerage_order_id"])
    op.create_index(
        "ix_trade_orders_unsettled",
        "trade_orders",
        ["updated_at"],
        postgresql_where=sa.text(
            "status IN ('SUBMITTING', 'UNKNOWN', 'PENDING', 'ACCEPTED', 'PARTIAL')"
        ),
    )

    op.create_table(
        "trade_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("correlation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("preview_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("broker_provider", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("payload", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_events"),
    )
    op.create_index("ix_trade_events_preview_id", "trade_events", ["preview_id"])
    op.create_index("ix_trade_events_order_id", "trade_events", ["order_id"])
    op.create_index("ix_trade_events_created_at", "trade_events", ["created_at"])


def downgrade() -> None:
    bind = op.get_bind()
    foreign = bind.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM trade_previews WHERE broker_provider <> 'snaptrade') "
            "+ (SELECT count(*) FROM trade_orders WHERE broker_provider <> 'snaptrade')"
        )
    ).scalar_one()
    if foreign:
        raise RuntimeError(
            f"refusing to downgrade: {foreign} non-SnapTrade preview/order rows would lose their broker; "
            "export or delete them first"
        )
    op.drop_table("trade_events")
    op.drop_index("ix_trade_orders_unsettled", table_name="trade_orders")
    op.drop_index("ix_trade_orders_brokerage_order_id", table_name="trade_orders")
    op.drop_index("ix_trade_orders_created_at", table_name="trade_orders")
    op.drop_constraint(op.f("ck_trade_orders_status"), "trade_orders", type_="check")
    op.drop_constraint(op.f("ck_trade_orders_filled_nonnegative"), "trade_orders", type_="check")
    op.drop_constraint(op.f("ck_trade_orders_broker_provider"), "trade_orders", type_="check")
    op.drop_constraint(op.f("uq_trade_orders_client_order_ref"), "trade_orders", type_="unique")
    for column in (
        "submitted_at", "error_message", "error_code", "commission", "remaining_quantity",
        "client_order_ref", "broker_provider",
    ):
        op.drop_column("trade_orders", column)

    op.drop_index("ix_trade_previews_account_id_created_at", table_name="trade_previews")
    for name in ("broker_provider", "time_in_force", "order_type", "side", "quantity_positive"):
        op.drop_constraint(op.f(f"ck_trade_previews_{name}"), "trade_previews", type_="check")
    op.drop_column("trade_previews", "validation")
    op.drop_column("trade_previews", "broker_preview_data")
    op.alter_column("trade_previews", "broker_symbol_id", new_column_name="universal_symbol_id")
    op.drop_column("trade_previews", "broker_provider")
