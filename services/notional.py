"""Orders for a cash amount ("buy $1,000 of MSFT"): `notional` instead of `quantity` (issue 15).

Where the broker takes a cash amount (SnapTrade: `notional_value`, Market Day stock orders only),
the order goes out as that amount and the broker chooses the units; the preview shows both the
amount and the estimated quantity. Anywhere else (IBKR, or another order type) the refusal says how
many whole shares the amount buys at the current ask, so the caller can preview that quantity.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from brokers.instruments import SecType
from brokers.models import BROKER_NAMES, OrderRequest, OrderSide, OrderType, TimeInForce, parse_order_request

QUANTITY_STEP = Decimal("1e-8")
PLACEHOLDER_QUANTITY = Decimal(1)
"""Stands for the quantity while the other terms are checked; the broker's estimate replaces it."""


class NotionalOrder(BaseModel):
    """An order's terms with a cash amount instead of a quantity, parsed once at the edge."""

    model_config = ConfigDict(frozen=True)

    terms: OrderRequest
    """Every term but the quantity (a placeholder until the broker's estimate replaces it)."""
    notional: Decimal

    @property
    def account_id(self) -> str:
        return self.terms.account_id

    @property
    def ticker(self) -> str:
        return self.terms.ticker


def parse_order_or_notional(**fields: Any) -> OrderRequest | NotionalOrder:
    """Exactly one of `quantity` and `notional`; every other term parsed as any order's."""
    quantity, notional = fields.get("quantity"), fields.get("notional")
    if (quantity is None) == (notional is None):
        said = "both were given" if quantity is not None else "neither was given"
        problem = f"give exactly one of quantity (units) and notional (a cash amount); {said}"
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {problem}", {"problems": [
            {"field": "quantity", "problem": problem}, {"field": "notional", "problem": problem}]})
    if notional is None:
        return parse_order_request(**fields)
    terms = parse_order_request(**{**fields, "quantity": PLACEHOLDER_QUANTITY})
    if terms.notional is None:
        raise TradeError(ErrorCode.VALIDATION_ERROR, "notional must be a cash amount", {"field": "notional"})
    return NotionalOrder(terms=terms, notional=terms.notional)


def _money(value: Decimal) -> str:
    return f"{value:,}"


def _price_for(order: NotionalOrder, adapter: BrokerAdapter) -> tuple[Decimal, str, str]:
    """The price an amount buys (the ask) or sells (the bid) at, its name, and the currency."""
    terms = order.terms
    quote = adapter.get_quote(terms.account_id, terms.ticker)
    buying = terms.side is OrderSide.BUY
    price, name = (quote.ask, "ask") if buying else (quote.bid, "bid")
    if price is None or price <= 0:
        price, name = quote.reference_price, "last price"
    if price is None or price <= 0:
        raise TradeError(ErrorCode.NO_DATA, f"no price for {terms.ticker} to turn a cash amount into a quantity: "
                         "give quantity instead", {"field": "notional", "ticker": terms.ticker})
    return price, name, quote.currency


def _why_not(order: NotionalOrder, adapter: BrokerAdapter) -> str | None:
    terms = order.terms
    broker = BROKER_NAMES.get(adapter.provider.value, adapter.provider.value)
    if not adapter.capabilities.notional_orders:
        return f"{broker} takes no orders for a cash amount"
    if terms.instrument.sec_type is not SecType.STOCK:
        return "a cash amount is only for stocks and ETFs"
    if terms.order_type is not OrderType.MARKET or terms.time_in_force is not TimeInForce.DAY:
        return f"{broker} takes a cash amount only for Market Day orders"
    return None


def resolve_notional(order: NotionalOrder, adapter: BrokerAdapter) -> OrderRequest:
    """The order as the broker will take it (quantity: the estimate at the current price), or the refusal
    saying which whole quantity the amount buys, to preview instead."""
    terms = order.terms
    price, name, currency = _price_for(order, adapter)
    reason = _why_not(order, adapter)
    if reason is not None:
        whole = int(order.notional // price)
        unit = "share" if whole == 1 else "shares"
        advice = f"preview quantity {whole}" if whole else "the amount does not cover one share"
        raise TradeError(
            ErrorCode.UNSUPPORTED_ORDER,
            f"{reason}. {currency} {_money(order.notional)} buys {whole} whole {unit} of {terms.ticker} at the "
            f"{name} {price}: {advice}",
            {"field": "notional", "notional": str(order.notional), "currency": currency, "price": str(price),
             "price_basis": name, "whole_shares": whole, "suggested_quantity": str(whole) if whole else None},
        )
    estimate = (order.notional / price).quantize(QUANTITY_STEP, rounding=ROUND_DOWN)
    if estimate <= 0:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"{currency} {_money(order.notional)} buys no part of a share "
                         f"of {terms.ticker} at the {name} {price}", {"field": "notional"})
    return terms.model_copy(update={"quantity": estimate})
