"""The platform's column names kept working, and the user on previews and orders.

Revision ID: te0003_dropin
Revises: te0004_ibkr
Create Date: 2026-11-30

The platform's SQL reads and writes `trade_orders.order_status` and
`trade_previews.universal_symbol_id`. The module's columns stay `status` and
`broker_symbol_id`; the platform's names come back as ordinary columns kept equal
to them by BEFORE triggers, so both sides read and write their own name:
- a write to `order_status` (any legacy value: CANCEL_PENDING, REPLACED, ...) is kept as
  written and mapped onto `status` (the common status the CHECK allows), so no legacy
  value is rejected;
- a legacy value written straight into `status` (deployments whose column was `status`)
  is moved to `order_status` and mapped the same way;
- a write to `status` by the module is copied to `order_status`.
`user_email` records which platform user made a preview or an order (optional).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "te0003_dropin"
down_revision: str | None = "te0004_ibkr"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMON = (
    "'PENDING', 'ACCEPTED', 'PARTIAL', 'EXECUTED', 'CANCELED', 'REJECTED', 'FAILED', "
    "'EXPIRED', 'SUBMITTING', 'UNKNOWN', 'SIMULATED'"
)
COMMON_STATUS_FUNCTION = f"""
CREATE FUNCTION tradeexec_common_order_status(raw text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN raw IS NULL THEN NULL
    WHEN raw IN ({COMMON}) THEN raw
    WHEN raw IN ('PARTIAL_CANCELED', 'REPLACED', 'STOPPED', 'CANCELLED') THEN 'CANCELED'
    WHEN raw IN ('CANCEL_PENDING', 'REPLACE_PENDING', 'TRIGGERED', 'ACTIVATED') THEN 'ACCEPTED'
    WHEN raw IN ('SUSPENDED', 'QUEUED', 'PENDING_RISK_REVIEW', 'CONTINGENT_ORDER') THEN 'PENDING'
    ELSE 'UNKNOWN'
  END
$$
"""
ORDER_TRIGGER_FUNCTION = """
CREATE FUNCTION tradeexec_sync_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IS NULL THEN
      NEW.status := tradeexec_common_order_status(NEW.order_status);
    ELSIF NEW.order_status IS NULL THEN
      NEW.order_status := NEW.status;
    END IF;
  ELSIF NEW.order_status IS DISTINCT FROM OLD.order_status AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    NEW.status := tradeexec_common_order_status(NEW.order_status);
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.order_status := NEW.status;
  END IF;
  IF NEW.status IS DISTINCT FROM tradeexec_common_order_status(NEW.status) THEN
    NEW.order_status := NEW.status;
    NEW.status := tradeexec_common_order_status(NEW.status);
  END IF;
  RETURN NEW;
END
$$
"""
PREVIEW_TRIGGER_FUNCTION = """
CREATE FUNCTION tradeexec_sync_universal_symbol_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.broker_symbol_id IS NULL THEN
      NEW.broker_symbol_id := NEW.universal_symbol_id;
    ELSIF NEW.universal_symbol_id IS NULL THEN
      NEW.universal_symbol_id := NEW.broker_symbol_id;
    END IF;
  ELSIF NEW.universal_symbol_id IS DISTINCT FROM OLD.universal_symbol_id
        AND NEW.broker_symbol_id IS NOT DISTINCT FROM OLD.broker_symbol_id THEN
    NEW.broker_symbol_id := NEW.universal_symbol_id;
  ELSIF NEW.broker_symbol_id IS DISTINCT FROM OLD.broker_symbol_id THEN
    NEW.universal_symbol_id := NEW.broker_symbol_id;
  END IF;
  RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.add_column("trade_previews", sa.Column("user_email", sa.String(254), nullable=True))
    op.add_column("trade_orders", sa.Column("user_email", sa.String(254), nullable=True))
    op.add_column("trade_previews", sa.Column("universal_symbol_id", sa.String(128), nullable=True))
    op.add_column("trade_orders", sa.Column("order_status", sa.String(32), nullable=True))
    op.execute("UPDATE trade_previews SET universal_symbol_id = broker_symbol_id WHERE broker_symbol_id IS NOT NULL")
    op.execute("UPDATE trade_orders SET order_status = COALESCE(brokerage_response->>'legacy_status', status)")
    op.execute(COMMON_STATUS_FUNCTION)
    op.execute(ORDER_TRIGGER_FUNCTION)
    op.execute(PREVIEW_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER trg_trade_orders_order_status BEFORE INSERT OR UPDATE ON trade_orders "
        "FOR EACH ROW EXECUTE FUNCTION tradeexec_sync_order_status()"
    )
    op.execute(
        "CREATE TRIGGER trg_trade_previews_universal_symbol_id BEFORE INSERT OR UPDATE ON trade_previews "
        "FOR EACH ROW EXECUTE FUNCTION tradeexec_sync_universal_symbol_id()"
    )
    op.create_index("ix_trade_orders_user_email_created_at", "trade_orders", ["user_email", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_trade_orders_user_email_created_at", table_name="trade_orders")
    op.execute("DROP TRIGGER trg_trade_previews_universal_symbol_id ON trade_previews")
    op.execute("DROP TRIGGER trg_trade_orders_order_status ON trade_orders")
    op.execute("DROP FUNCTION tradeexec_sync_universal_symbol_id()")
    op.execute("DROP FUNCTION tradeexec_sync_order_status()")
    op.execute("DROP FUNCTION tradeexec_common_order_status(text)")
    op.drop_column("trade_orders", "order_status")
    op.drop_column("trade_previews", "universal_symbol_id")
    op.drop_column("trade_orders", "user_email")
    op.drop_column("trade_previews", "user_email")
