"""What the service returns: plain, JSON-ready views of stored rows.

Field names follow the platform contract (`specs/PLATFORM_CONTRACT.md`): its callers read
`order_status`, `validation{...}`, `universal_symbol_id`, ... Extra fields sit beside them.
Numbers are plain decimals: no exponent and no padding zeros from the column scale.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, model_validator

from brokers.models import OrderStatus
from brokers.records import BrokerOrder
from db.models import TradeOrder, TradePreview
from services.instrument_view import derivative_of, instrument_text
from services.order_terms import current_terms
from services.plain_numbers import plain_decimal, plain_json_number

ZERO = Decimal(0)


PlainDecimal = Annotated[
    Decimal,
    AfterValidator(plain_decimal),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
]


class View(BaseModel):
    model_config = ConfigDict(frozen=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Validation(View):
    """The contract's `validation` object. A stored preview passed every blocking check."""

    is_valid: bool = True
    errors: list[str] = []
    warnings: list[str] = []
    checks_passed: list[str] = []
    buying_power: PlainDecimal | None = None
    estimated_cost: PlainDecimal | None = None
    post_trade_weight: PlainDecimal | None = None


CONVERSION_FIELDS = ("exchange_rate", "account_currency", "estimated_total_in_account_currency")


class PreviewView(View):
    preview_id: str
    account_id: str
    broker_provider: str
    ticker: str
    side: str
    quantity: PlainDecimal
    order_type: str
    limit_price: PlainDecimal | None
    stop_price: PlainDecimal | None
    time_in_force: str
    estimated_price: PlainDecimal | None
    estimated_price_basis: str | None = None
    """Which price estimated_price is: 'limit' or 'stop' (the order's own) or 'quote'; the total uses it."""
    estimated_commission: PlainDecimal | None
    estimated_total: PlainDecimal | None
    estimated_cost: PlainDecimal | None = None
    estimated_proceeds: PlainDecimal | None = None
    currency: str = "USD"
    instrument: dict[str, Any] | None = None
    """For a derivative (or a stock on a named non-US listing): sec_type, local_symbol, expiry, strike, right,
    multiplier, exchange, currency and the quantity unit ("contracts" for derivatives)."""
    commission_currency: str | None = None
    margin: dict[str, Any] | None = None
    """The broker's what-if margin figures: initial/maintenance before, change and after, and their currency."""
    pre_trade_weight: PlainDecimal | None = None
    post_trade_weight: PlainDecimal | None = None
    pre_trade_weight_percent: PlainDecimal | None = None
    post_trade_weight_percent: PlainDecimal | None = None
    """The same weights in percent of the account's net liquidation value (the contract's are fractions)."""
    conversion: dict[str, Any] | None = None
    """Priced in another currency than the account's: the broker's exchange_rate (account_currency per unit of
    `currency`) and estimated_total_in_account_currency, which MAX_ORDER_NOTIONAL and the weights used."""
    requires_confirmation: bool = True
    validation: Validation = Validation()
    universal_symbol_id: str | None = None
    snaptrade_trade_id: str | None = None
    combined_remaining_balance: dict[str, Any] | None = None
    trade_impacts: list[dict[str, Any]] = []
    market_data: dict[str, Any] | None = None
    user_email: str | None = None
    status: str
    created_at: datetime
    expires_at: datetime
    impact: dict[str, Any]
    warnings: list[str]
    summary: str
    order_options: dict[str, Any] = {}
    """Trailing amount/percent, trail stop, limit offset, outside_rth: for the order types that use them."""
    legs: list[dict[str, Any]] = []
    """A bracket: entry, take_profit and stop_loss legs (type, side, quantity, prices, estimated_notional)."""
    notional: PlainDecimal | None = None
    """The cash amount (in `currency`) asked for instead of a quantity; `quantity` is then the broker's estimate."""
    estimated_quantity: PlainDecimal | None = None
    """With notional: the quantity the amount is estimated to buy or sell (the fill decides the exact one)."""

    @classmethod
    def of(cls, row: TradePreview) -> PreviewView:
        impact = {k: plain_json_number(v) if k not in ("warnings", "checks_passed") else v
                  for k, v in (row.impact or {}).items()}
        data = row.broker_preview_data or {}
        raw: dict[str, Any] = data["raw"] if isinstance(data.get("raw"), dict) else {}
        warnings = list((row.validation or {}).get("warnings", []))
        weight_after = _decimal(impact.get("position_weight_after"))
        buy = row.side == "BUY"
        return cls(
            preview_id=str(row.id), account_id=row.account_id, broker_provider=row.broker_provider,
            ticker=row.ticker, side=row.side, quantity=row.quantity, order_type=row.order_type,
            limit_price=row.limit_price, stop_price=row.stop_price, time_in_force=row.time_in_force,
            estimated_price=row.estimated_price, estimated_commission=row.estimated_commission,
            estimated_price_basis=data.get("price_basis"),
            estimated_total=row.estimated_total,
            estimated_cost=row.estimated_total if buy else None,
            estimated_proceeds=None if buy else row.estimated_total,
            currency=str(data.get("currency") or "USD"),
            instrument=derivative_of(row),
            commission_currency=data.get("commission_currency"),
            margin=_margin(data.get("margin")),
            pre_trade_weight=_decimal(impact.get("position_weight_before")),
            post_trade_weight=weight_after,
            pre_trade_weight_percent=_percent(_decimal(impact.get("position_weight_before"))),
            post_trade_weight_percent=_percent(weight_after),
            conversion={k: impact.get(k) for k in CONVERSION_FIELDS} if impact.get("account_currency") else None,
            validation=Validation(
                warnings=warnings, checks_passed=list((row.validation or {}).get("checks_passed", [])),
                buying_power=_decimal(impact.get("buying_power")), estimated_cost=row.estimated_total,
                post_trade_weight=weight_after,
            ),
            universal_symbol_id=row.broker_symbol_id, snaptrade_trade_id=row.snaptrade_trade_id,
            combined_remaining_balance=_object(raw.get("combined_remaining_balance")),
            trade_impacts=[i for i in raw.get("trade_impacts") or [] if isinstance(i, dict)],
            market_data=_market_data(data.get("quote")),
            user_email=getattr(row, "user_email", None),
            status=row.status, created_at=row.created_at, expires_at=row.expires_at,
            impact=impact, warnings=warnings, summary=describe(row),
            order_options=dict(row.order_options or {}), legs=_legs(row),
            notional=_decimal((row.order_options or {}).get("notional")),
            estimated_quantity=row.quantity if (row.order_options or {}).get("notional") else None,
        )


def _legs(row: TradePreview) -> list[dict[str, Any]]:
    from services.set_legs import preview_legs

    return preview_legs(row)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _percent(fraction: Decimal | None) -> Decimal | None:
    return None if fraction is None else (fraction * 100).quantize(Decimal("0.0001"))


def _object(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _margin(figures: Any) -> dict[str, Any] | None:
    if not isinstance(figures, dict):
        return None
    return {k: v if k == "currency" else plain_json_number(v) for k, v in figures.items()}


def _market_data(quote: Any) -> dict[str, Any] | None:
    if not isinstance(quote, dict):
        return None
    return {k: plain_json_number(v) if k in ("bid", "ask", "last", "close") else v for k, v in quote.items()}


def describe(row: TradePreview) -> str:
    """The one-line order summary a human confirms."""
    qty = _plain(row.quantity)
    ticker = row.ticker
    instrument = derivative_of(row)
    if instrument is not None:
        qty += " contracts" if instrument["quantity_unit"] == "contracts" else ""
        ticker += instrument_text(instrument)
    price = ""
    if row.order_type == "Limit":
        price = f" limit {_plain(row.limit_price)}"
    elif row.order_type == "Stop":
        price = f" stop {_plain(row.stop_price)}"
    elif row.order_type == "StopLimit":
        price = f" stop {_plain(row.stop_price)} limit {_plain(row.limit_price)}"
    price += "".join(f" {name.replace('_', ' ')} {value}" for name, value in (row.order_options or {}).items()
                     if name not in ("outside_rth", "take_profit_price", "stop_loss_price", "notional"))
    if (row.order_options or {}).get("outside_rth"):
        price += " outside regular hours"
    data = row.broker_preview_data or {}
    currency = str(data.get("currency") or "USD")
    notional = _decimal((row.order_options or {}).get("notional"))
    if notional is not None:  # a cash amount: the amount first, the quantity as the estimate it is
        qty = f"{currency} {notional:,.2f} of"
        ticker += f" (est. {_plain(row.quantity)} shares)"
    total = "" if row.estimated_total is None else (
        f": est. {'cost' if row.side == 'BUY' else 'proceeds'} {currency} {row.estimated_total:,.2f}")
    account = data.get("account_label") or f"{row.broker_provider} account {row.account_id}"
    simulated = data.get("execute_simulated")
    from services.set_legs import legs_summary

    return (
        f"{row.side} {qty} {ticker} {row.order_type}{price} {row.time_in_force} in {account}{total}"
        + legs_summary(row)
        + (" [SIMULATED ONLY: orders are off; executing records the order and sends nothing to the broker]"
           if simulated else "")
    )


def _plain(value: Decimal | None) -> str:
    return "?" if value is None else format(plain_decimal(value), "f")


class OrderView(View):
    """An execution result and an order row (`get_orders`), under the contract's names."""

    order_id: str | None
    id: str | None = None
    preview_id: str | None
    account_id: str
    broker_provider: str
    client_order_ref: str | None = None
    brokerage_order_id: str | None
    status: str
    order_status: str = ""
    ticker: str | None = None
    side: str | None = None
    quantity: PlainDecimal | None = None
    order_type: str | None = None
    limit_price: PlainDecimal | None = None
    stop_price: PlainDecimal | None = None
    time_in_force: str | None = None
    currency: str | None = None
    filled_quantity: PlainDecimal = ZERO
    remaining_quantity: PlainDecimal | None = None
    average_fill_price: PlainDecimal | None = None
    total_cost: PlainDecimal | None = None
    commission: PlainDecimal | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    executed_at: datetime | None = None
    cancelled_at: datetime | None = None
    message: str | None = None
    new_preview: PreviewView | None = None
    source: Literal["local", "brokerage"] = "local"
    user_email: str | None = None
    stale: bool = False
    attention: str | None = None
    instrument: dict[str, Any] | None = None
    """As in the preview: type, expiry, strike/right, multiplier, exchange, currency, "contracts"."""
    leg_role: str | None = None
    """entry / take_profit / stop_loss for a leg of an order set (a bracket); null for a single order."""
    parent_order_id: str | None = None
    """A child leg's entry order (cancelling the entry cancels the set)."""
    order_ids: list[str | None] | None = None
    order_roles: list[str | None] | None = None
    """An executed set: every leg's order_id and its role, the entry first (null for a single order)."""
    legs: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _order_status_is_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("order_status"):
            data = {**data, "order_status": data.get("status")}
        return data

    @classmethod
    def of(cls, row: TradeOrder, preview: TradePreview | None = None, *, stale: bool = False) -> OrderView:
        multiplier = _multiplier(preview)
        terms = current_terms(row, preview)  # a modification's, a bracket leg's, or the preview's
        return cls(
            order_id=str(row.id), id=str(row.id), preview_id=str(row.preview_id) if row.preview_id else None,
            account_id=row.account_id, leg_role=getattr(row, "leg_role", None),
            parent_order_id=str(row.parent_order_id) if getattr(row, "parent_order_id", None) else None,
            broker_provider=row.broker_provider, client_order_ref=row.client_order_ref,
            brokerage_order_id=row.brokerage_order_id, status=row.status, order_status=row.status,
            ticker=preview.ticker if preview else None, side=terms.side, quantity=terms.quantity,
            order_type=terms.order_type, limit_price=terms.limit_price, stop_price=terms.stop_price,
            time_in_force=preview.time_in_force if preview else None,
            currency=str((preview.broker_preview_data or {}).get("currency") or "USD") if preview else None,
            filled_quantity=row.filled_quantity, remaining_quantity=row.remaining_quantity,
            average_fill_price=row.average_fill_price,
            total_cost=_total_cost(row.filled_quantity, row.average_fill_price, multiplier),
            commission=row.commission, error_code=row.error_code, error_message=row.error_message,
            created_at=row.created_at, updated_at=row.updated_at,
            executed_at=row.executed_at, cancelled_at=row.cancelled_at,
            message=order_message(row.status, row.broker_provider, row.error_message),
            user_email=getattr(row, "user_email", None), stale=stale, attention=row.attention,
            instrument=derivative_of(preview) if preview is not None else None,
        )

    @classmethod
    def of_broker(cls, order: BrokerOrder, provider: str) -> OrderView:
        """An order the broker reports that was not placed through this module."""
        status = order.status.value
        placed = order.placed_at
        return cls(
            order_id=None, id=None, preview_id=None, account_id=order.account_id, broker_provider=provider,
            brokerage_order_id=order.brokerage_order_id, status=status, order_status=status,
            ticker=order.ticker, side=order.side.value if order.side else None, quantity=order.quantity,
            order_type=order.order_type, limit_price=order.limit_price, stop_price=order.stop_price,
            filled_quantity=order.filled_quantity, remaining_quantity=order.remaining_quantity,
            average_fill_price=order.average_fill_price,
            total_cost=_total_cost(order.filled_quantity, order.average_fill_price, Decimal(1)),
            commission=order.commission, created_at=placed, updated_at=placed,
            message="placed outside this module (reported by the broker)", source="brokerage",
        )


def order_message(status: str, provider: str, error: str | None) -> str | None:
    """Human-readable context for a status, or None when the status says it all."""
    if status == OrderStatus.SIMULATED:
        return "SIMULATED: ORDERS_ENABLED is false, so the order was recorded but NOT sent to the broker."
    if status == OrderStatus.UNKNOWN:
        return "the broker did not confirm in time: the order MAY have been placed; do not execute again"
    if status == OrderStatus.SUBMITTING:
        return f"being sent to {provider}"
    if status == OrderStatus.CANCELED:
        return f"cancelled at {provider}: nothing more of this order will fill (filled_quantity shows what did)"
    if status in (OrderStatus.REJECTED, OrderStatus.FAILED) and error:
        return error
    return None


def _multiplier(preview: TradePreview | None) -> Decimal:
    data = (preview.broker_preview_data if preview is not None else None) or {}
    return _decimal(data.get("multiplier")) or Decimal(1)


def _total_cost(filled: Decimal, price: Decimal | None, multiplier: Decimal) -> Decimal | None:
    """Gross value of what filled (before commission); None before a fill price is known."""
    if price is None or filled <= ZERO:
        return None if price is None else ZERO
    return filled * price * multiplier
