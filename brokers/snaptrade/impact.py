"""POST /trade/impact: the order form going out and the BrokerPreview coming back.

Placing by trade id places SnapTrade's stored copy of the form, so the echo is checked
against what the human is about to confirm before the trade id is handed out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from brokers.models import OrderRequest
from brokers.records import BrokerPreview, Quote
from brokers.snaptrade.parsing import ResponseError, currency_code, dec, items, obj

TRADE_TTL = timedelta(minutes=5)
"""SnapTrade: a trade id expires five minutes after the impact call."""
EXPIRY_MARGIN = timedelta(seconds=5)
"""Counted from before the impact request was sent, less this margin for the placement's trip."""


def impact_form(order: OrderRequest, universal_symbol_id: str) -> dict[str, Any]:
    """Arguments for `trading.get_order_impact`; price/stop/units are floats because the SDK demands them."""
    form: dict[str, Any] = {
        "account_id": order.account_id,
        "action": order.side.value,
        "universal_symbol_id": universal_symbol_id,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
    }
    if order.notional is not None:
        form["notional_value"] = str(order.notional)  # exact text (the SDK takes a string); SnapTrade sets the units
    else:
        form["units"] = float(order.quantity)
    if order.limit_price is not None:
        form["price"] = float(order.limit_price)
    if order.stop_price is not None:
        form["stop"] = float(order.stop_price)
    return form


def trade_expiry(sent_at: datetime) -> datetime:
    return sent_at + TRADE_TTL - EXPIRY_MARGIN


def _check_echo(order: OrderRequest, universal_symbol_id: str, trade: Mapping[str, Any]) -> None:
    problems = []
    action = trade.get("action")
    if action is not None and str(action).upper() != order.side.value:
        problems.append(f"action {action!r}")
    units = dec(trade.get("units"), "trade.units")
    if units is not None and units != order.quantity and order.notional is None:
        problems.append(f"units {units}")
    if order.notional is not None and (units is None or units <= 0):
        problems.append("no units for the cash amount")
    symbol_id = obj(trade.get("symbol")).get("universal_symbol_id")
    if symbol_id is not None and str(symbol_id) != universal_symbol_id:
        problems.append("a different symbol")
    order_type = trade.get("order_type")
    if order_type is not None and str(order_type).lower() != order.order_type.value.lower():
        problems.append(f"order type {order_type!r}")
    if problems:
        raise ResponseError(f"SnapTrade's trade differs from the order asked for: {', '.join(problems)}")


def preview(
    order: OrderRequest, universal_symbol_id: str, body: Any, quote: Quote | None, sent_at: datetime,
    warnings: list[str],
) -> BrokerPreview:
    if not isinstance(body, Mapping):
        raise ResponseError("order impact is not an object")
    trade = obj(body.get("trade"))
    trade_id = trade.get("id")
    if not trade_id:
        raise ResponseError("order impact has no trade id")
    _check_echo(order, universal_symbol_id, trade)
    impacts = items(body.get("trade_impacts") or [])
    impact = next((i for i in impacts if str(i.get("account")) == order.account_id), impacts[0] if impacts else {})
    combined = obj(body.get("combined_remaining_balance"))
    symbol = obj(trade.get("symbol"))
    currency = currency_code(combined.get("currency"), currency_code(symbol.get("currency")))
    margin: dict[str, Decimal | None] = {
        "remaining_cash": dec(impact.get("remaining_cash"), "remaining_cash"),
        "combined_remaining_cash": dec(combined.get("cash"), "combined_remaining_balance.cash"),
        "forex_fees": dec(impact.get("forex_fees"), "forex_fees"),
    }
    return BrokerPreview(
        broker_symbol_id=universal_symbol_id,
        estimated_price=dec(trade.get("price"), "trade.price"),
        estimated_commission=dec(impact.get("estimated_commission"), "estimated_commission"),
        currency=currency,
        quote=quote,
        broker_trade_id=str(trade_id),
        broker_expires_at=trade_expiry(sent_at),
        quantity=dec(trade.get("units"), "trade.units") if order.notional is not None else None,
        margin_impact={k: v for k, v in margin.items() if v is not None},
        warnings=warnings,
        raw=dict(body),
    )
