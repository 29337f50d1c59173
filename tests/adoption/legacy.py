"""SnapTrade-era schemas as platforms have them (two variants), seeded with rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import create_engine, pool, text

PREVIEWS = """
CREATE TABLE trade_previews (
  id uuid PRIMARY KEY, account_id varchar(64) NOT NULL, ticker varchar(32) NOT NULL, side varchar(8) NOT NULL,
  quantity numeric(18, 4) NOT NULL, order_type varchar(16) NOT NULL, limit_price numeric(18, 4),
  stop_price numeric(18, 4), time_in_force varchar(8) NOT NULL DEFAULT 'Day', estimated_price numeric(18, 4),
  estimated_total numeric(18, 4), estimated_commission numeric(18, 4), universal_symbol_id varchar(128),
  snaptrade_trade_id varchar(64), {impact} status varchar(16) NOT NULL DEFAULT 'ACTIVE',
  created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL, platform_user_id integer
)"""
ORDERS = """
CREATE TABLE trade_orders (
  id uuid PRIMARY KEY, preview_id uuid NOT NULL REFERENCES trade_previews (id), account_id varchar(64) NOT NULL,
  brokerage_order_id varchar(128), {status} varchar(32) NOT NULL, filled_quantity numeric(18, 4) NOT NULL DEFAULT 0,
  average_fill_price numeric(18, 4), brokerage_response {json} NOT NULL DEFAULT '{{}}',
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now() {unique}
)"""
VARIANTS: dict[str, dict[str, str]] = {
    # `status`, no UNIQUE(preview_id), no index: the older deployments
    "status": {"impact": "impact jsonb NOT NULL DEFAULT '{}',", "status": "status", "json": "jsonb", "unique": ""},
    # `order_status`, UNIQUE under Postgres' own name, json not jsonb, no impact column
    "order_status": {"impact": "", "status": "order_status", "json": "json", "unique": ", UNIQUE (preview_id)"},
}


def execute(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def seed(url: str, variant: str, *, duplicate: bool = False) -> dict[str, uuid.UUID]:
    shape = VARIANTS[variant]
    execute(url, PREVIEWS.format(impact=shape["impact"]))
    execute(url, ORDERS.format(**shape))
    ids = {"preview": uuid.uuid4(), "order": uuid.uuid4(), "working": uuid.uuid4(), "working_preview": uuid.uuid4()}
    column = shape["status"]
    for preview, symbol in ((ids["preview"], "usid-aapl"), (ids["working_preview"], "usid-msft")):
        execute(url, "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, limit_price, "
                     "universal_symbol_id, snaptrade_trade_id, status, expires_at) VALUES (:id, 'acc-1', 'AAPL', "
                     "'BUY', 10.5, 'Limit', 189.25, :sym, 'trade-1', 'EXECUTED', now())", id=preview, sym=symbol)
    execute(url, f"INSERT INTO trade_orders (id, preview_id, account_id, brokerage_order_id, {column}, "
                 "filled_quantity, average_fill_price) VALUES (:id, :pid, 'acc-1', 'B-77', 'PARTIAL_CANCELED', 4, "
                 "189.2)", id=ids["order"], pid=ids["preview"])
    execute(url, f"INSERT INTO trade_orders (id, preview_id, account_id, brokerage_order_id, {column}) VALUES "
                 "(:id, :pid, 'acc-1', 'B-78', 'CANCEL_PENDING')", id=ids["working"], pid=ids["working_preview"])
    if duplicate:
        execute(url, f"INSERT INTO trade_orders (id, preview_id, account_id, {column}) VALUES "
                     "(:id, :pid, 'acc-1', 'FAILED')", id=uuid.uuid4(), pid=ids["preview"])
    return ids
