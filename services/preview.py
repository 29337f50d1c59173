"""Building a preview: the broker's estimate plus every blocking pre-trade check."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from brokers.base import BrokerAdapter
from brokers.models import OrderRequest, OrderSide, OrderType
from brokers.records import BrokerPreview, Position
from db.models import PreviewStatus, TradePreview, row_object
from services import validation as checks
from services.currency_conversion import Conversion, conversion_for
from services.margin_checks import check_funds, check_instrument_supported, margin_figures
from services.order_store import jsonable, utcnow
from services.validation import RiskAssessment, RiskLimits


def held_of(positions: list[Position], ticker: str, broker_symbol_id: str | None) -> tuple[Decimal, Decimal]:
    """Quantity and market value held of one instrument (by the broker's symbol id, else by ticker)."""
    quantity = Decimal(0)
    value = Decimal(0)
    for pos in positions:
        same = (pos.broker_symbol_id and pos.broker_symbol_id == broker_symbol_id) or (
            pos.ticker.upper() == ticker
        )
        if same:
            quantity += pos.quantity
            if pos.market_value is not None:
                value += pos.market_value
            elif pos.market_price is not None:
                value += pos.market_price * pos.quantity
    return quantity, value


def _price_basis(order: OrderRequest) -> str:
    """Which price estimated_price (and so the total) is: the order's own limit or stop, or the quote."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return "limit"
    return "stop" if order.order_type is OrderType.STOP else "quote"


def assess(
    order: OrderRequest, adapter: BrokerAdapter, limits: RiskLimits
) -> tuple[BrokerPreview, RiskAssessment]:
    """Ask the broker (the preview and the account reads at once, where the adapter can), then run the checks;
    raises the first blocking TradeError."""
    checks.check_supported(order, adapter.capabilities, adapter.provider.value)
    check_instrument_supported(order, adapter.capabilities, adapter.provider.value)
    checks.check_quantity_limit(order.quantity, limits)
    preview, snapshot = adapter.preview_with_snapshot(order)
    risk = RiskAssessment(warnings=list(preview.warnings))
    ran = risk.checks  # only the checks that ran: a limit not configured is not "passed"
    if limits.max_order_quantity is not None:
        ran.append("max_quantity")
    reference = preview.quote.reference_price if preview.quote else None
    reference = reference or preview.estimated_price
    _check_prices(order, reference, limits, ran)

    balance, positions = snapshot()
    required = limits.max_order_notional is not None or limits.max_position_weight is not None
    conversion = conversion_for(preview.currency, balance, required=required)  # limits are in the account's
    price = checks.order_price(order, reference)
    notional = price * order.quantity * preview.multiplier if price is not None else None
    risk.notional = notional
    checks.check_notional(conversion.apply(notional), limits)
    if limits.max_order_notional is not None:
        ran.append("max_notional")

    held, held_value = held_of(positions, order.ticker, preview.broker_symbol_id)
    checks.check_position_for_sell(order.side, order.quantity, held)
    if order.side is OrderSide.SELL:
        ran.append("position_held")

    commission = preview.estimated_commission
    if commission is None:
        risk.warnings.append("the broker gave no commission estimate")
    if notional is not None:
        fee = commission or Decimal(0)
        risk.estimated_total = notional + fee if order.side is OrderSide.BUY else notional - fee
    checks.check_storable(risk.estimated_total)
    record_conversion(conversion, risk)
    funds_check = check_funds(order, preview, risk, balance)  # fits the instrument (services/margin_checks.py)
    if funds_check is not None:
        ran.append(funds_check)

    converted, held_converted = conversion.apply(notional), conversion.apply(held_value)
    if converted is not None and held_converted is not None:
        risk.weight_before, risk.weight_after = checks.position_weights(
            order.side, converted, held_converted, balance.net_liquidation)
    checks.check_position_weight(risk.weight_before, risk.weight_after, limits)
    if limits.max_position_weight is not None:
        ran.append("position_weight")
    return preview, risk


def _check_prices(order: OrderRequest, reference: Decimal | None, limits: RiskLimits, ran: list[str]) -> None:
    checks.check_price_band(order, reference, limits)
    checks.check_bracket_prices(order, reference)
    if order.is_bracket:
        ran.append("bracket_prices")
    if limits.price_band_pct is not None and order.order_type is not OrderType.MARKET:
        ran.append("price_band")


def record_conversion(conversion: Conversion, risk: RiskAssessment) -> None:
    """The rate used and the converted total, stored with the preview and shown in it."""
    if not conversion.converts:
        return
    converted = conversion.apply(risk.estimated_total)
    risk.converted = {**conversion.as_json(),
                      "estimated_total_in_account_currency": None if converted is None else str(converted)}
    risk.warnings.append(conversion.note(risk.estimated_total))


def preview_row(
    order: OrderRequest, adapter: BrokerAdapter, preview: BrokerPreview, risk: RiskAssessment, ttl_seconds: int
) -> TradePreview:
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    if preview.broker_expires_at is not None:
        expires = min(expires, preview.broker_expires_at)
    quoted = preview.quote.reference_price if preview.quote else None
    quoted = quoted or preview.estimated_price
    estimated_price = checks.order_price(order, quoted)  # the price the total uses, whatever the broker quoted
    return row_object(TradePreview, {
        "id": uuid.uuid4(),
        "account_id": order.account_id,
        "broker_provider": adapter.provider.value,
        "ticker": order.ticker,
        "side": order.side.value,
        "quantity": order.quantity,
        "order_type": order.order_type.value,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force.value,
        "order_options": order.order_options(),
        "estimated_price": estimated_price,
        "estimated_commission": preview.estimated_commission,
        "estimated_total": risk.estimated_total,
        "broker_symbol_id": preview.broker_symbol_id,
        "snaptrade_trade_id": preview.broker_trade_id,
        "broker_preview_data": jsonable(
            {
                "raw": preview.raw,
                "multiplier": preview.multiplier,
                "currency": preview.currency,
                "margin_impact": preview.margin_impact,
                "margin": margin_figures(preview, risk.funds_currency),
                "commission_currency": preview.commission_currency,
                "instrument": order.instrument_arguments(),
                "quote": preview.quote.model_dump() if preview.quote else None,
                "price_basis": _price_basis(order),
            }
        ),
        "validation": {"warnings": risk.warnings, "checks_passed": risk.checks},
        "impact": risk.as_json(),
        "status": PreviewStatus.ACTIVE,
        "created_at": now,
        "expires_at": expires,
    })
