"""The rows of an order set (a bracket): how child legs are stored, and each leg's own terms.

Schema (te0008_order_sets): the entry row keeps the preview's `preview_id` (UNIQUE: the exactly-once
anchor of the whole set) and `leg_role` 'entry'; each child leg is a row of its own with `preview_id`
NULL, `parent_order_id` = the entry row and `leg_role` take_profit / stop_loss, and its own
`client_order_ref` (the entry's plus -tp / -sl, sent as orderRef). All of them, with their events, are
inserted in the execute's intent transaction, before the first leg is sent.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from brokers.bracket_rules import LegRole, leg_ref
from brokers.models import OrderRequest, OrderStatus
from brokers.order_legs import OPPOSITE, leg_request, set_roles
from db import direct
from db.models import TradeOrder, TradePreview, row_object
from services import execute_sql as sql
from services.execution_gate import request_of

CHILD_ROLES = (LegRole.TAKE_PROFIT.value, LegRole.STOP_LOSS.value)


@dataclass(frozen=True)
class LegTerms:
    """What a child leg is, for views: its side, type and price (its quantity is the entry's)."""

    role: str
    side: str
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None


def is_bracket(preview: TradePreview | None) -> bool:
    options = (preview.order_options or {}) if preview is not None else {}
    return bool(options.get("take_profit_price") or options.get("stop_loss_price"))


def leg_terms(row: TradeOrder, preview: TradePreview | None) -> LegTerms | None:
    """A child leg's terms from its set's preview; None for a single order or an entry."""
    role = getattr(row, "leg_role", None)
    if role not in CHILD_ROLES or preview is None:
        return None
    options = preview.order_options or {}
    side = OPPOSITE[request_of(preview).side].value
    if role == LegRole.TAKE_PROFIT.value:
        return LegTerms(role, side, "Limit", Decimal(str(options["take_profit_price"])), None)
    return LegTerms(role, side, "Stop", None, Decimal(str(options["stop_loss_price"])))


def preview_of(session: Session, row: TradeOrder) -> TradePreview | None:
    """The preview an order row was executed from (a child leg's is its entry's)."""
    preview_id = row.preview_id
    if preview_id is None and row.parent_order_id is not None:
        parent = session.get(TradeOrder, row.parent_order_id)
        preview_id = parent.preview_id if parent is not None else None
    return session.get(TradePreview, preview_id) if preview_id is not None else None


def request_of_row(row: TradeOrder, preview: TradePreview) -> OrderRequest:
    """The terms this row's order was sent with (an entry's without its bracket fields)."""
    request = request_of(preview)
    role = getattr(row, "leg_role", None)
    return leg_request(request, LegRole(role)) if role else request


def set_rows(session: Session, entry_id: uuid.UUID) -> list[TradeOrder]:
    """The entry's child legs, in placement order (take-profit, then stop-loss)."""
    children = session.query(TradeOrder).filter(TradeOrder.parent_order_id == entry_id).all()
    return sorted(children, key=lambda r: CHILD_ROLES.index(r.leg_role or ""))


_MARK_ENTRY = direct.psycopg_style("UPDATE trade_orders SET leg_role = :role WHERE id = :id RETURNING id")
_INSERT_CHILD = direct.psycopg_style(f"""
WITH c AS (
    INSERT INTO trade_orders (id, preview_id, parent_order_id, leg_role, account_id, broker_provider,
        client_order_ref, status, filled_quantity, remaining_quantity, brokerage_response, created_at, submitted_at,
        updated_at, user_email)
    VALUES (:id, NULL, :parent_order_id, :leg_role, :account_id, :broker_provider, :client_order_ref, :status,
        :filled_quantity, :remaining_quantity, '{{}}'::jsonb, :created_at, :submitted_at, :updated_at, :user_email)
    RETURNING id, account_id, broker_provider, status
)
INSERT INTO trade_events ({sql.EVENT_COLUMNS})
SELECT now(), :event_type, :correlation_id, :preview_id, c.id, c.account_id, c.broker_provider, c.status, NULL,
    NULL, CAST(:payload AS jsonb)
FROM c
RETURNING order_id
""")


def insert_children(
    tx: direct.Statements, entry: dict[str, Any], preview: TradePreview, request: OrderRequest,
    correlation: uuid.UUID,
) -> list[TradeOrder]:
    """In the intent transaction: mark the entry row, insert one row (and event) per child leg of `request`
    (the preview's terms, parsed once by the caller)."""
    roles = set_roles(request)[1:]
    if not roles:
        return []
    tx.fetch(_MARK_ENTRY, {"role": LegRole.ENTRY.value, "id": entry["id"]})
    sent = entry["status"] is OrderStatus.SUBMITTING
    children = []
    for role in roles:
        row = {**entry, "id": uuid.uuid4(), "preview_id": None, "parent_order_id": entry["id"],
               "leg_role": role.value, "client_order_ref": leg_ref(entry["client_order_ref"], role)}
        tx.fetch(_INSERT_CHILD, {
            **{name: row[name] for name in _CHILD_COLUMNS}, "status": row["status"].value,
            "event_type": "ORDER_SUBMITTING" if sent else "ORDER_SIMULATED", "correlation_id": correlation,
            "preview_id": preview.id, "payload": json.dumps({
                "client_order_ref": row["client_order_ref"], "leg_role": row["leg_role"],
                "parent_order_id": str(entry["id"])}),
        })
        children.append(row_object(TradeOrder, row))
    return children


_CHILD_COLUMNS = ("id", "parent_order_id", "leg_role", "account_id", "broker_provider", "client_order_ref",
                  "filled_quantity", "remaining_quantity", "created_at", "submitted_at", "updated_at", "user_email")


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def preview_legs(preview: TradePreview) -> list[dict[str, Any]]:
    """A bracket preview's legs as a human confirms them (role, type, side, quantity, prices, notional)."""
    if not is_bracket(preview):
        return []
    data = preview.broker_preview_data or {}
    multiplier = Decimal(str(data.get("multiplier") or 1))
    options = preview.order_options or {}
    exit_side = OPPOSITE[request_of(preview).side].value
    # (role, order type, side, limit, stop, the price its notional uses)
    legs: list[tuple[LegRole, str, str, Decimal | None, Decimal | None, Decimal | None]] = [
        (LegRole.ENTRY, preview.order_type, preview.side, preview.limit_price, preview.stop_price,
         preview.estimated_price)]
    if options.get("take_profit_price"):
        tp = Decimal(str(options["take_profit_price"]))
        legs.append((LegRole.TAKE_PROFIT, "Limit", exit_side, tp, None, tp))
    if options.get("stop_loss_price"):
        sl = Decimal(str(options["stop_loss_price"]))
        legs.append((LegRole.STOP_LOSS, "Stop", exit_side, None, sl, sl))
    return [{
        "role": role.value, "order_type": order_type, "side": side, "quantity": _plain(preview.quantity),
        "limit_price": _plain(limit), "stop_price": _plain(stop),
        "estimated_notional": _plain(price * preview.quantity * multiplier) if price is not None else None,
    } for role, order_type, side, limit, stop, price in legs]


def legs_summary(preview: TradePreview) -> str:
    """The legs in the one-line summary a human confirms (empty for a single order)."""
    legs = preview_legs(preview)
    if not legs:
        return ""
    parts = []
    for leg in legs:
        price = leg["limit_price"] or leg["stop_price"]
        parts.append(f"{leg['role'].replace('_', '-')} {leg['side']} {leg['quantity']} {leg['order_type']}"
                     + (f" {price}" if price else ""))
    return ("; bracket of " + str(len(legs)) + " orders: " + ", ".join(parts)
            + " (the exits work only once the entry fills; when one exit fills the other is cancelled)")
