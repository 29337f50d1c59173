"""Types exchanged between the service and broker adapters.

Everything money-like is Decimal. Requests validate at the edge: an order that makes
no sense for its type never reaches an adapter.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from brokers.bracket_rules import bracket_problems, entry_price
from brokers.errors import ErrorCode, TradeError
from brokers.instruments import FIELD_HINTS, FieldProblems, InstrumentFields

MAX_QUANTITY_DIGITS = 12  # integer digits; the database stores Numeric(20, 8)
MAX_DECIMAL_PLACES = 8


class BrokerProvider(StrEnum):
    SNAPTRADE = "snaptrade"
    IBKR = "ibkr"


BROKER_NAMES = {BrokerProvider.IBKR.value: "IBKR", BrokerProvider.SNAPTRADE.value: "SnapTrade"}
"""How messages to people name each broker."""


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"
    STOP = "Stop"
    STOP_LIMIT = "StopLimit"
    TRAILING_STOP = "TrailingStop"
    TRAILING_STOP_LIMIT = "TrailingStopLimit"
    MARKET_ON_CLOSE = "MarketOnClose"
    MARKET_ON_OPEN = "MarketOnOpen"


BASIC_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})
"""What every broker supports; the others (issue 16) only where an adapter's capabilities say so."""
TRAILING_ORDER_TYPES = frozenset({OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT})
AUCTION_ORDER_TYPES = frozenset({OrderType.MARKET_ON_CLOSE, OrderType.MARKET_ON_OPEN})
ORDER_OPTION_FIELDS = ("trailing_amount", "trailing_percent", "trail_stop_price", "limit_offset",
                       "take_profit_price", "stop_loss_price", "notional")


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


def _enum_member(enum: type[OrderType] | type[TimeInForce], value: Any) -> Any:
    """Case-insensitive spelling ('limit', 'STOP_LIMIT') to the member; anything else unchanged, for pydantic."""
    if isinstance(value, str):
        for member in enum:
            if member.value.lower() == value.strip().lower().replace("_", ""):
                return member
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


AccountIdText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
]
"""An account id as brokers spell it (IBKR 'DU1234567', a SnapTrade UUID): one rule for every caller."""

TickerText = Annotated[
    str, BeforeValidator(_upper),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^/?[A-Z0-9][A-Z0-9 .:/\-]*$"),
]
"""A ticker, upper-cased: letters, digits and . : / - (e.g. 'BRK.B', '/ES' for a future at IBKR)."""

_ACCOUNT_ID = TypeAdapter(AccountIdText)
_TICKER = TypeAdapter(TickerText)


PATTERN_HINTS = {
    "ticker": "ticker may contain only letters, digits, spaces and . : / - (e.g. 'AAPL', 'BRK.B')",
    "account_id": "account_id may contain only letters, digits and . _ - (take it from list_tradeable_accounts)",
    **FIELD_HINTS,
}


def _problems_of(exc: ValidationError, field: str | None = None) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblems):  # a cross-field rule that names its own arguments
            problems.extend(cause.problems)
            continue
        name = field or ".".join(str(p) for p in err["loc"]) or "order"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = f"{name} is required"
        elif err["type"] == "string_pattern_mismatch":
            message = PATTERN_HINTS.get(name.split(".")[-1], message)
        problems.append({"field": name, "problem": message})
    return problems


def _invalid(what: str, problems: list[dict[str, str]]) -> TradeError:
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid {what}: {summary}", {"problems": problems})


def canonical_ticker(value: Any, field: str = "ticker") -> str:
    """The one ticker rule (the same OrderRequest applies), for calls that take a ticker alone."""
    try:
        return _TICKER.validate_python(value)
    except ValidationError as exc:
        raise _invalid(field, _problems_of(exc, field)) from None


def canonical_account_id(value: Any, field: str = "account_id") -> str:
    try:
        return _ACCOUNT_ID.validate_python(value)
    except ValidationError as exc:
        raise _invalid(field, _problems_of(exc, field)) from None


class OrderRequest(InstrumentFields):
    """What a caller asks to trade, checked for shape before anything else runs.

    The instrument fields (sec_type, exchange, currency, expiry, strike, right, multiplier) and the
    rule that each fits the security type come from `InstrumentFields` (brokers/instruments.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    account_id: AccountIdText
    ticker: TickerText
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    trailing_amount: Decimal | None = None
    trailing_percent: Decimal | None = None
    trail_stop_price: Decimal | None = None
    limit_offset: Decimal | None = None
    outside_rth: bool = False
    oca_group: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    """One-cancels-all group: a fill of any order in the group cancels the others (IBKR ocaType 1)."""
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None
    """Either makes this order the entry of a bracket (brokers/bracket_rules.py); both make the full bracket."""
    notional: Decimal | None = None
    """A cash amount asked for instead of a quantity (services/notional.py): the broker turns it into units, and
    `quantity` is then the estimate the broker gave."""

    @field_validator("side", mode="before")
    @classmethod
    def _upper_side(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("order_type", "time_in_force", mode="before")
    @classmethod
    def _canonical_enum(cls, value: Any, info: Any) -> Any:
        return _enum_member(OrderType if info.field_name == "order_type" else TimeInForce, value)

    @field_validator("quantity", "limit_price", "stop_price", "take_profit_price", "stop_loss_price", "notional",
                     mode="before")
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

    @field_validator("limit_price", "stop_price", "take_profit_price", "stop_loss_price", "notional")
    @classmethod
    def _price(cls, value: Decimal | None, info: Any) -> Decimal | None:
        return None if value is None else _check_decimal(value, name=info.field_name)

    @field_validator("trailing_amount", "trailing_percent", "trail_stop_price", "limit_offset", mode="before")
    @classmethod
    def _no_junk_in_trailing_fields(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number, not a boolean")
        return Decimal(repr(value)) if isinstance(value, float) else value

    @field_validator("trailing_amount", "trailing_percent", "trail_stop_price", "limit_offset")
    @classmethod
    def _trailing_number(cls, value: Decimal | None, info: Any) -> Decimal | None:
        if value is None:
            return None
        value = _check_decimal(value, name=info.field_name, allow_zero=info.field_name == "limit_offset")
        if info.field_name == "trailing_percent" and not 0 < value < 100:
            raise ValueError("trailing_percent must be between 0 and 100")
        return value

    def order_options(self) -> dict[str, Any]:
        """The fields only some order types use, as stored with a preview (Decimals as exact text)."""
        options: dict[str, Any] = {
            name: str(value) for name in ORDER_OPTION_FIELDS if (value := getattr(self, name)) is not None
        }
        if self.outside_rth:
            options["outside_rth"] = True
        if self.oca_group is not None:
            options["oca_group"] = self.oca_group
        return options

    @model_validator(mode="after")
    def _advanced_fields_match_type(self) -> OrderRequest:
        """Trailing fields only on trailing orders (an amount or a percent, not both); auctions are Day."""
        trailing = self.order_type in TRAILING_ORDER_TYPES
        if trailing and (self.trailing_amount is None) == (self.trailing_percent is None):
            raise ValueError(f"{self.order_type.value} orders need trailing_amount or trailing_percent (one of them)")
        given = [name for name in ("trailing_amount", "trailing_percent", "trail_stop_price")
                 if getattr(self, name) is not None]
        if given and not trailing:
            raise ValueError(f"{', '.join(given)} not allowed for {self.order_type.value} orders")
        if (self.limit_offset is None) == (self.order_type is OrderType.TRAILING_STOP_LIMIT):
            raise ValueError(f"limit_offset is {'required' if self.limit_offset is None else 'not allowed'} "
                             f"for {self.order_type.value} orders")
        if self.order_type in AUCTION_ORDER_TYPES and self.time_in_force is not TimeInForce.DAY:
            raise ValueError(f"{self.order_type.value} orders are Day orders")
        return self

    @property
    def is_bracket(self) -> bool:
        return self.take_profit_price is not None or self.stop_loss_price is not None

    @model_validator(mode="after")
    def _bracket_terms(self) -> OrderRequest:
        """A bracket's entry type and price order (a Market entry's price is checked against the quote later)."""
        problems = bracket_problems(self.side.value, self.order_type.value,
                                    entry_price(self.order_type.value, self.limit_price, self.stop_price),
                                    self.take_profit_price, self.stop_loss_price)
        if self.is_bracket and self.oca_group is not None:
            problems.append({"field": "oca_group", "problem": "a bracket makes its own one-cancels-all group; "
                                                              "leave oca_group out"})
        if problems:
            raise ValueError("; ".join(p["problem"] for p in problems))
        return self

    @model_validator(mode="after")
    def _prices_match_type(self) -> OrderRequest:
        problems = price_problems(self.order_type, self.limit_price is not None, self.stop_price is not None)
        for name in ("limit_price", "stop_price", "take_profit_price", "stop_loss_price"):
            price = getattr(self, name)
            if price is not None and (price * self.quantity).adjusted() >= MAX_QUANTITY_DIGITS:
                problems.append({"field": name, "problem": f"{name} x quantity is too large to store"})
        if problems:
            raise ValueError("; ".join(p["problem"] for p in problems))
        return self


def price_problems(order_type: OrderType, has_limit: bool, has_stop: bool) -> list[dict[str, str]]:
    """Which prices this order type needs or forbids, each problem named by its field."""
    needs = {
        "limit_price": order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT),
        "stop_price": order_type in (OrderType.STOP, OrderType.STOP_LIMIT),
    }
    problems = []
    for field, given in (("limit_price", has_limit), ("stop_price", has_stop)):
        if needs[field] and not given:
            problems.append({"field": field, "problem": f"{field} is required for {order_type.value} orders"})
        elif given and not needs[field]:
            problems.append({"field": field, "problem": f"{field} is not allowed for {order_type.value} orders"})
    return problems


def validation_error_from(exc: ValidationError) -> TradeError:
    """Turn a pydantic error into the structured VALIDATION_ERROR, without echoing input values."""
    return _invalid("order", _problems_of(exc))


def _raw_price_problems(fields: dict[str, Any]) -> list[dict[str, str]]:
    """The price/type rule on the raw fields, so it is reported even when another field is also wrong."""
    order_type = _enum_member(OrderType, fields.get("order_type", OrderType.MARKET))
    if not isinstance(order_type, OrderType):
        return []  # the order type itself is reported; which prices it needs is unknown
    return price_problems(order_type, fields.get("limit_price") is not None, fields.get("stop_price") is not None)


def _too_large(fields: dict[str, Any], known: set[str]) -> list[dict[str, str]]:
    """Price x quantity past what NUMERIC(20, 8) stores, named by the price's field."""
    try:
        quantity = Decimal(str(fields.get("quantity")))
        found = []
        for name in ("limit_price", "stop_price"):
            price = fields.get(name)
            if name not in known and price is not None and (Decimal(str(price)) * quantity).adjusted() >= (
                MAX_QUANTITY_DIGITS
            ):
                found.append({"field": name, "problem": f"{name} x quantity is too large to store"})
        return found
    except (ArithmeticError, ValueError, TypeError):
        return []  # not numbers: reported by their own fields


def parse_order_request(**fields: Any) -> OrderRequest:
    """The one parse of an order's terms: every problem at once, each named by its argument."""
    try:
        return OrderRequest(**fields)
    except ValidationError as exc:
        prices = _raw_price_problems(fields)
        restated = "; ".join(p["problem"] for p in prices)  # the model's own price message, said per field below
        problems = [p for p in _problems_of(exc) if not (
            p["field"] == "order" and (p["problem"] == restated or "too large to store" in p["problem"]))]
        known = {p["field"] for p in problems}
        problems.extend(p for p in prices if p["field"] not in known)
        problems.extend(_too_large(fields, known))
        raise _invalid("order", problems) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TradeError(ErrorCode.VALIDATION_ERROR, f"Invalid order: {exc}") from None
