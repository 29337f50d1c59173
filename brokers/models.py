"""Types exchanged between the service and broker adapters.

Everything money-like is Decimal. Requests validate at the edge: an order that makes
no sense for its type never reaches an adapter.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from brokers.errors import ErrorCode, TradeError

MAX_QUANTITY_DIGITS = 12  # integer digits; the database stores Numeric(20, 8)
MAX_DECIMAL_PLACES = 8


class BrokerProvider(StrEnum):
    SNAPTRADE = "snaptrade"
    IBKR = "ibkr"


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"
    STOP = "Stop"
    STOP_LIMIT = "StopLimit"


class TimeInForce(StrEnum):
    DAY = "Day"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    PARTIAL = "PARTIAL"
    EXECUTED = "EXECUTED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    SUBMITTING = "SUBMITTING"
    UNKNOWN = "UNKNOWN"
    SIMULATED = "SIMULATED"


FINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.EXECUTED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.FAILED,
        OrderStatus.EXPIRED,
        OrderStatus.SIMULATED,
    }
)
"""Statuses that never change again."""

ACTIVE_STATUSES: frozenset[OrderStatus] = frozenset(
    {OrderStatus.PENDING, OrderStatus.ACCEPTED, OrderStatus.PARTIAL}
)
"""Working at the broker: can fill or be canceled."""

UNSETTLED_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.SUBMITTING, OrderStatus.UNKNOWN})
"""Our own states for 'may or may not exist at the broker': reconciliation settles them."""

if FINAL_STATUSES & ACTIVE_STATUSES or FINAL_STATUSES & UNSETTLED_STATUSES or frozenset(OrderStatus) != (
    FINAL_STATUSES | ACTIVE_STATUSES | UNSETTLED_STATUSES
):
    raise RuntimeError("order statuses must fall into exactly one of final, active and unsettled")


def _check_decimal(value: Decimal, *, name: str, allow_zero: bool = False) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'zero or more' if allow_zero else 'greater than zero'}")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise ValueError(f"{name} has more than {MAX_DECIMAL_PLACES} decimal places")
    if value.adjusted() >= MAX_QUANTITY_DIGITS:
        raise ValueError(f"{name} is too large")
    return value


class OrderRequest(BaseModel):
    """What a caller asks to trade, checked for shape before anything else runs."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    ticker: str = Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9 .:/\-]*$")
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY

    @field_validator("ticker", mode="before")
    @classmethod
    def _upper_ticker(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("side", mode="before")
    @classmethod
    def _upper_side(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("order_type", "time_in_force", mode="before")
    @classmethod
    def _canonical_enum(cls, value: Any, info: Any) -> Any:
        enum = OrderType if info.field_name == "order_type" else TimeInForce
        if isinstance(value, str):
            for member in enum:
                if member.value.lower() == value.strip().lower().replace("_", ""):
                    return member
        return value

    @field_validator("quantity", "limit_price", "stop_price", mode="before")
    @classmethod
    def _no_bool_or_float_junk(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number, not a boolean")
        if isinstance(value, float):
            return Decimal(repr(value))  # the shortest decimal that round-trips, not the binary expansion
        return value

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: Decimal) -> Decimal:
        return _check_decimal(value, name="quantity")

    @field_validator("limit_price", "stop_price")
    @classmethod
    def _price(cls, value: Decimal | None, info: Any) -> Decimal | None:
        return None if value is None else _check_decimal(value, name=info.field_name)

    @model_validator(mode="after")
    def _prices_match_type(self) -> OrderRequest:
        problems = price_problems(self.order_type, self.limit_price is not None, self.stop_price is not None)
        for name in ("limit_price", "stop_price"):
            price = getattr(self, name)
            if price is not None and (price * self.quantity).adjusted() >= MAX_QUANTITY_DIGITS:
                problems.append((name, f"{name} x quantity is too large to store (at most {MAX_QUANTITY_DIGITS} "
                                       "integer digits)"))
        if problems:
            raise ValueError("; ".join(f"{field}: {problem}" for field, problem in problems))
        return self


def price_problems(order_type: OrderType, has_limit: bool, has_stop: bool) -> list[tuple[str, str]]:
    """(field, problem) for prices the order type requires or forbids."""
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    problems: list[tuple[str, str]] = []
    for name, needed, given in (("limit_price", needs_limit, has_limit), ("stop_price", needs_stop, has_stop)):
        if needed and not given:
            problems.append((name, f"{name} is required for {order_type.value} orders"))
        if given and not needed:
            problems.append((name, f"{name} is not allowed for {order_type.value} orders"))
    return problems


def _raw_price_problems(fields: dict[str, Any]) -> list[dict[str, str]]:
    """The price/type problems of raw input, so one error lists them with the field problems."""
    raw_type = fields.get("order_type", OrderType.MARKET.value)
    text = str(raw_type).strip().lower().replace("_", "")
    order_type = next((t for t in OrderType if t.value.lower() == text), None)
    if order_type is None:
        return []
    problems = price_problems(order_type, fields.get("limit_price") is not None, fields.get("stop_price") is not None)
    return [{"field": field, "problem": problem} for field, problem in problems]


def validation_error_from(exc: ValidationError) -> TradeError:
    """Turn a pydantic error into the structured VALIDATION_ERROR, without echoing input values."""
    problems: list[dict[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(p) for p in err["loc"])
        if not field and err["msg"].startswith("Value error, "):  # a cross-field check names its fields
            for part in err["msg"].removeprefix("Value error, ").split("; "):
                name, _, problem = part.partition(": ")
                problems.append({"field": name, "problem": problem} if problem else {"field": "order", "problem": part})
            continue
        problems.append({"field": field or "order", "problem": err["msg"]})
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {summary}", {"problems": problems})


def parse_order_request(**fields: Any) -> OrderRequest:
    """The one place an order's fields are parsed: every problem is reported at once, naming its field."""
    try:
        return OrderRequest(**fields)
    except ValidationError as exc:
        error = validation_error_from(exc)
        problems = error.details["problems"]
        if not any(p["field"] in ("order", "limit_price", "stop_price") for p in problems):  # cross-field check
            # did not run because a field failed: run its price/type part here, so every problem is listed
            problems.extend(p for p in _raw_price_problems(fields) if p not in problems)
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {summary}", {"problems": problems}) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {exc}") from None


class BrokerModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class BrokerCapabilities(BrokerModel):
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    fractional_quantities: bool = False


class BrokerAccount(BrokerModel):
    account_id: str
    provider: BrokerProvider
    name: str | None = None
    number: str | None = None
    institution: str | None = None
    currency: str = "USD"
    is_paper: bool


class SymbolMatch(BrokerModel):
    ticker: str
    broker_symbol_id: str
    description: str | None = None
    sec_type: str = "STK"
    exchange: str | None = None
    currency: str = "USD"


class Quote(BrokerModel):
    ticker: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    close: Decimal | None = None
    currency: str = "USD"
    delayed: bool = False

    @property
    def reference_price(self) -> Decimal | None:
        """Last trade, else the mid, else the close: what price checks compare against."""
        if self.last is not None and self.last > 0:
            return self.last
        if self.bid and self.ask and self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2
        return self.close if self.close and self.close > 0 else None


class AccountBalance(BrokerModel):
    account_id: str
    currency: str = "USD"
    cash: Decimal | None = None
    buying_power: Decimal | None = None
    net_liquidation: Decimal | None = None
    available_funds: Decimal | None = None


class Position(BrokerModel):
    account_id: str
    ticker: str
    quantity: Decimal
    broker_symbol_id: str | None = None
    average_cost: Decimal | None = None
    market_price: Decimal | None = None
    market_value: Decimal | None = None
    currency: str = "USD"


class BrokerPreview(BrokerModel):
    """The broker's own view of an order before it is placed."""

    broker_symbol_id: str
    estimated_price: Decimal | None = None
    estimated_commission: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    currency: str = "USD"
    quote: Quote | None = None
    broker_trade_id: str | None = None
    broker_expires_at: datetime | None = None
    margin_impact: dict[str, Decimal | None] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)


class OrderToPlace(BrokerModel):
    """A confirmed preview, carrying what the broker needs to place exactly that order."""

    request: OrderRequest
    broker_symbol_id: str | None
    broker_trade_id: str | None = None
    preview_data: dict[str, Any] = Field(default_factory=dict)


class OrderLookup(BrokerModel):
    """Everything reconciliation knows about an order whose outcome is unknown."""

    account_id: str
    client_order_ref: str
    request: OrderRequest
    broker_symbol_id: str | None = None
    brokerage_order_id: str | None = None
    submitted_at: datetime
    known_brokerage_order_ids: frozenset[str] = frozenset()


class BrokerOrder(BrokerModel):
    """An order as the broker reports it, already mapped to the common status."""

    account_id: str
    brokerage_order_id: str | None
    status: OrderStatus
    raw_status: str | None = None
    client_order_ref: str | None = None
    ticker: str | None = None
    side: OrderSide | None = None
    order_type: str | None = None
    quantity: Decimal | None = None
    filled_quantity: Decimal = Decimal(0)
    remaining_quantity: Decimal | None = None
    average_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    commission: Decimal | None = None
    placed_at: datetime | None = None
    message: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
