"""Pre-trade checks: pure functions over plain values, so each rule is testable alone.

Every check is blocking. A check that cannot run for lack of data (no quote, no
balance) blocks too, unless the limit it enforces is not configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from brokers.bracket_rules import bracket_problems
from brokers.errors import ErrorCode, TradeError
from brokers.models import BROKER_NAMES, MAX_QUANTITY_DIGITS, OrderRequest, OrderSide, OrderType
from brokers.records import BrokerCapabilities

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskLimits:
    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_weight: Decimal | None = None
    price_band_pct: Decimal | None = None


@dataclass
class RiskAssessment:
    """What the preview stores: the numbers behind the decision and any warnings."""

    notional: Decimal | None = None
    estimated_total: Decimal | None = None
    weight_before: Decimal | None = None
    weight_after: Decimal | None = None
    buying_power: Decimal | None = None
    funds_currency: str | None = None
    initial_margin_change: Decimal | None = None
    """Set when the funds check used the what-if's initial margin (futures, options sold, other currencies)."""
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    converted: dict[str, str | None] = field(default_factory=dict)
    """An order in another currency than the account's: the rate used and the converted total."""

    def as_json(self) -> dict[str, Any]:
        return {
            **self.converted,
            "notional": _s(self.notional),
            "estimated_total": _s(self.estimated_total),
            "position_weight_before": _s(self.weight_before),
            "position_weight_after": _s(self.weight_after),
            "buying_power": _s(self.buying_power),
            **({} if self.initial_margin_change is None else {"initial_margin_change": _s(self.initial_margin_change)}),
            "warnings": list(self.warnings),
            "checks_passed": list(self.checks),
        }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _refuse(code: ErrorCode, message: str, **details: Any) -> TradeError:
    return TradeError(code, message, {k: (str(v) if isinstance(v, Decimal) else v) for k, v in details.items()})


def check_supported(order: OrderRequest, capabilities: BrokerCapabilities, provider: str) -> None:
    provider = BROKER_NAMES.get(provider, provider)
    if order.order_type not in capabilities.order_types:
        raise _refuse(
            ErrorCode.UNSUPPORTED_ORDER,
            f"{provider} does not support {order.order_type.value} orders",
            supported=sorted(t.value for t in capabilities.order_types),
        )
    if order.time_in_force not in capabilities.time_in_force:
        raise _refuse(
            ErrorCode.UNSUPPORTED_ORDER,
            f"{provider} does not support time in force {order.time_in_force.value}",
            supported=sorted(t.value for t in capabilities.time_in_force),
        )
    if not capabilities.fractional_quantities and order.quantity != order.quantity.to_integral_value():
        whole = int(order.quantity)
        hint = f"; use a whole quantity such as {whole}" if whole > 0 else "; use a whole quantity of at least 1"
        raise _refuse(ErrorCode.UNSUPPORTED_ORDER, f"{provider} accepts whole quantities only{hint}",
                      quantity=order.quantity, whole_quantity=whole or 1)
    if order.oca_group is not None and not capabilities.oca_groups:
        raise _refuse(ErrorCode.UNSUPPORTED_ORDER, f"{provider} does not support one-cancels-all groups")
    if order.outside_rth and not capabilities.outside_rth:
        raise _refuse(ErrorCode.UNSUPPORTED_ORDER, f"{provider} does not take orders outside regular trading hours")
    if order.is_bracket and not capabilities.brackets:
        raise _refuse(ErrorCode.UNSUPPORTED_ORDER, f"{provider} does not support bracket orders (take_profit_price, "
                      "stop_loss_price); place the entry alone and its exits as separate orders")


def check_bracket_prices(order: OrderRequest, reference: Decimal | None) -> None:
    """A Market entry's take-profit and stop-loss against the current price (other entries: at the edge)."""
    if not order.is_bracket or order.order_type is not OrderType.MARKET:
        return
    if reference is None:
        raise _refuse(ErrorCode.VALIDATION_ERROR, "no current price to check the bracket's take_profit_price and "
                      "stop_loss_price against; use a Limit entry")
    problems = bracket_problems(order.side.value, order.order_type.value, reference, order.take_profit_price,
                                order.stop_loss_price, basis="current price")
    if problems:
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {summary}",
                         {"problems": problems, "reference_price": str(reference)})


def check_quantity_limit(quantity: Decimal, limits: RiskLimits) -> None:
    if limits.max_order_quantity is not None and quantity > limits.max_order_quantity:
        raise _refuse(
            ErrorCode.RISK_LIMIT,
            f"quantity {quantity} exceeds MAX_ORDER_QUANTITY {limits.max_order_quantity}",
            limit="MAX_ORDER_QUANTITY",
            quantity=quantity,
            maximum=limits.max_order_quantity,
        )


def order_price(order: OrderRequest, reference_price: Decimal | None) -> Decimal | None:
    """The price the order can trade at in the worst reasonable case."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return order.limit_price
    if order.order_type is OrderType.STOP:
        return order.stop_price
    return reference_price


def check_notional(notional: Decimal | None, limits: RiskLimits) -> None:
    if limits.max_order_notional is None:
        return
    if notional is None:
        raise _refuse(ErrorCode.RISK_LIMIT, "no price is available to check MAX_ORDER_NOTIONAL")
    if notional > limits.max_order_notional:
        raise _refuse(
            ErrorCode.RISK_LIMIT,
            f"order value {notional:.2f} exceeds MAX_ORDER_NOTIONAL {limits.max_order_notional}",
            limit="MAX_ORDER_NOTIONAL",
            notional=notional,
            maximum=limits.max_order_notional,
        )


def check_price_band(order: OrderRequest, reference_price: Decimal | None, limits: RiskLimits) -> None:
    band = limits.price_band_pct
    if band is None or order.order_type is OrderType.MARKET:
        return
    if reference_price is None or reference_price <= 0:
        raise _refuse(ErrorCode.RISK_LIMIT, "no quote is available to check PRICE_BAND_PCT")
    for name, price in (("limit_price", order.limit_price), ("stop_price", order.stop_price)):
        if price is None:
            continue
        deviation = abs(price - reference_price) / reference_price * HUNDRED
        if deviation > band:
            raise _refuse(
                ErrorCode.RISK_LIMIT,
                f"{name} {price} is {deviation:.2f}% from the last price {reference_price}, "
                f"outside PRICE_BAND_PCT {band}%",
                limit="PRICE_BAND_PCT",
                price=price,
                reference_price=reference_price,
            )


def check_buying_power(side: OrderSide, total_cost: Decimal | None, buying_power: Decimal | None) -> None:
    if side is not OrderSide.BUY:
        return
    if total_cost is None:
        raise _refuse(ErrorCode.INSUFFICIENT_FUNDS, "the order's cost could not be estimated")
    if buying_power is None:
        raise _refuse(ErrorCode.INSUFFICIENT_FUNDS, "the account's buying power is not available")
    if total_cost > buying_power:
        raise _refuse(
            ErrorCode.INSUFFICIENT_FUNDS,
            f"estimated cost {total_cost:.2f} exceeds buying power {buying_power:.2f}",
            estimated_cost=total_cost,
            buying_power=buying_power,
        )


def check_position_for_sell(side: OrderSide, quantity: Decimal, held: Decimal) -> None:
    """Selling more than is held would open a short; this module never does that by accident."""
    if side is OrderSide.SELL and quantity > held:
        raise _refuse(
            ErrorCode.INSUFFICIENT_POSITION,
            f"cannot sell {quantity}: the account holds {held}",
            quantity=quantity,
            held=held,
        )


def position_weights(
    side: OrderSide, notional: Decimal, position_value: Decimal, account_value: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    if account_value is None or account_value <= 0:
        return None, None
    after = position_value + notional if side is OrderSide.BUY else position_value - notional
    return position_value / account_value, max(after, Decimal(0)) / account_value


def check_position_weight(before: Decimal | None, after: Decimal | None, limits: RiskLimits) -> None:
    limit = limits.max_position_weight
    if limit is None:
        return
    if after is None:
        raise _refuse(ErrorCode.RISK_LIMIT, "account value is not available to check MAX_POSITION_WEIGHT")
    if after > limit and (before is None or after > before):
        raise _refuse(
            ErrorCode.RISK_LIMIT,
            f"position would be {after * HUNDRED:.1f}% of the account, over MAX_POSITION_WEIGHT "
            f"{limit * HUNDRED:.1f}%",
            limit="MAX_POSITION_WEIGHT",
            weight_after=after,
            maximum=limit,
        )


def check_storable(estimated_total: Decimal | None) -> None:
    """The preview stores its estimated total as NUMERIC(20, 8): a value that cannot be stored is bad input."""
    if estimated_total is not None and abs(estimated_total).adjusted() >= MAX_QUANTITY_DIGITS:
        raise _refuse(
            ErrorCode.VALIDATION_ERROR,
            f"quantity: the order's estimated total {estimated_total:.2f} is too large to store",
            problems=[{"field": "quantity", "problem": "the order's estimated total is too large to store"}],
        )
