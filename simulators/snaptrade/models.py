"""Records the simulator keeps, and how each one looks on the wire.

Money and quantities stay Decimal inside; the wire shape follows what the
snaptrade-python-sdk 13.x schema documents (floats for balances and impact,
nullable strings for positions and order records).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

JSON = dict[str, Any]

# A fixed namespace so that derived ids (currencies, exchanges, ...) are stable across runs.
NAMESPACE = uuid.UUID("5b0f3c0e-6a43-4b6e-9d4e-2f1d7c8a9e10")

ORDER_STATUSES: tuple[str, ...] = (
    "NONE", "PENDING", "ACCEPTED", "FAILED", "REJECTED", "CANCELED", "PARTIAL_CANCELED",
    "CANCEL_PENDING", "EXECUTED", "PARTIAL", "REPLACE_PENDING", "REPLACED", "STOPPED",
    "SUSPENDED", "EXPIRED", "QUEUED", "TRIGGERED", "ACTIVATED", "PENDING_RISK_REVIEW",
    "CONTINGENT_ORDER",
)
# Statuses after which an order can no longer change (cancel answers 400).
FINAL_STATUSES = frozenset(
    {"EXECUTED", "CANCELED", "PARTIAL_CANCELED", "REJECTED", "FAILED", "EXPIRED", "REPLACED", "STOPPED"}
)
# Final statuses that take the open quantity off the book without filling it.
CANCEL_LIKE_STATUSES = FINAL_STATUSES - {"EXECUTED"}
EXECUTED_STATUSES = frozenset({"EXECUTED", "PARTIAL_CANCELED"})

ORDER_TYPES = ("Market", "Limit", "Stop", "StopLimit")
TIME_IN_FORCE = ("Day", "GTC", "FOK", "IOC")

_CURRENCY_NAMES = {"USD": "US Dollar", "CAD": "Canadian Dollar", "EUR": "Euro", "GBP": "British Pound"}
_EXCHANGES = {
    "NASDAQ": ("XNAS", "Nasdaq"),
    "NYSE": ("XNYS", "New York Stock Exchange"),
    "ARCA": ("ARCX", "NYSE Arca"),
    "TSX": ("XTSE", "Toronto Stock Exchange"),
}
_SECURITY_TYPES = {"cs": "Common Stock", "et": "ETF", "ad": "ADR", "ps": "Preferred Stock"}


def derived_id(kind: str, key: str) -> str:
    """A stable UUID for a derived object (currency, exchange, ...)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def dstr(value: Decimal | None) -> str | None:
    """Decimal as a plain string without exponent (the SDK's nullable-string numbers)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def dfloat(value: Decimal | None) -> float | None:
    """Decimal as a JSON number (balances and impact are floats in the API)."""
    return None if value is None else float(value)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision and a Z suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def currency_json(code: str) -> JSON:
    return {"id": derived_id("currency", code), "code": code, "name": _CURRENCY_NAMES.get(code, code)}


def exchange_json(code: str) -> JSON:
    mic, name = _EXCHANGES.get(code, (None, code))
    return {
        "id": derived_id("exchange", code),
        "code": code,
        "mic_code": mic,
        "name": name,
        "timezone": "America/Toronto" if code == "TSX" else "America/New_York",
        "start_time": "09:30:00",
        "close_time": "16:00:00",
        "suffix": ".TO" if code == "TSX" else None,
    }


@dataclass
class User:
    user_id: str
    user_secret: str


@dataclass
class Authorization:
    """A brokerage connection; `trade` type connections may place orders."""

    id: str
    user_id: str
    institution: str
    type: str = "trade"
    disabled: bool = False
    refresh_count: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> JSON:
        slug = self.institution.upper().replace(" ", "_")
        return {
            "id": self.id,
            "created_date": iso(self.created),
            "updated_date": iso(self.created),
            "brokerage": {
                "id": derived_id("brokerage", slug),
                "slug": slug,
                "name": self.institution,
                "display_name": self.institution,
                "description": f"{self.institution} (simulated)",
                "aws_s3_logo_url": "",
                "aws_s3_square_logo_url": None,
                "url": None,
                "enabled": True,
                "maintenance_mode": False,
                "is_degraded": False,
                "allows_trading": True,
                "allows_fractional_units": True,
                "has_reporting": True,
                "is_real_time_connection": True,
            },
            "name": f"Connection-{self.institution}",
            "type": self.type,
            "disabled": self.disabled,
            "disabled_date": iso(self.created) if self.disabled else None,
            "meta": {},
            "is_eligible_for_payout": False,
        }


@dataclass
class Symbol:
    id: str
    ticker: str
    price: Decimal
    description: str
    currency: str
    exchange: str
    security_type: str = "cs"
    bid: Decimal | None = None
    ask: Decimal | None = None

    def bid_price(self) -> Decimal:
        return self.bid if self.bid is not None else self.price - Decimal("0.01")

    def ask_price(self) -> Decimal:
        return self.ask if self.ask is not None else self.price + Decimal("0.01")

    def to_json(self) -> JSON:
        """The UniversalSymbol shape."""
        code = self.security_type
        return {
            "id": self.id,
            "symbol": self.ticker,
            "raw_symbol": self.ticker.split(".TO")[0],
            "description": self.description,
            "currency": currency_json(self.currency),
            "currencies": [],
            "exchange": exchange_json(self.exchange),
            "type": {
                "id": derived_id("security-type", code),
                "code": code,
                "description": _SECURITY_TYPES.get(code, code),
                "is_supported": True,
            },
            "figi_code": None,
            "figi_instrument": None,
        }


@dataclass
class Account:
    id: str
    user_id: str
    authorization_id: str
    name: str
    number: str
    cash: Decimal
    currency: str
    institution: str
    is_paper: bool
    trading_allowed: bool = True
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def sync_status(self) -> JSON:
        now = datetime.now(UTC)
        return {
            "transactions": {
                "initial_sync_completed": True,
                "last_successful_sync": now.date().isoformat(),
                "first_transaction_date": None,
            },
            "holdings": {"initial_sync_completed": True, "last_successful_sync": iso(now)},
        }

    def to_json(self, total: Decimal) -> JSON:
        """The (deprecated but still served) Account shape of GET /accounts."""
        return {
            "id": self.id,
            "brokerage_authorization": self.authorization_id,
            "name": self.name,
            "number": self.number,
            "institution_name": self.institution,
            "created_date": iso(self.created),
            "is_paper": self.is_paper,
            "sync_status": self.sync_status(),
            "balance": {"total": {"amount": float(total), "currency": self.currency}},
            "status": "open",
            "raw_type": "Margin",
            "account_category": "INVESTMENT",
            "institution_account_id": None,
            "funding_date": None,
            "opening_date": None,
            "meta": {"type": "Margin", "institution_name": self.institution},
        }

    def to_connection_json(self, total: Decimal) -> JSON:
        """The InvestmentAccount shape of GET /accounts/all."""
        now = iso(datetime.now(UTC))
        return {
            "kind": "investment",
            "id": self.id,
            "connection_id": self.authorization_id,
            "masked_account_number": "****" + self.number[-4:],
            "display_name": self.name,
            "institution_account_id": None,
            "institution_id": derived_id("institution", self.institution),
            "sync_status": {
                "transactions": {"initial_sync_completed": True},
                "orders": now,
                "positions": now,
                "balances": now,
            },
            "is_paper": self.is_paper,
            "raw_type": "Margin",
            "cash_or_margin": "margin",
            "net_value": {"amount": float(total), "currency": self.currency},
            "opening_date": None,
            "funding_date": None,
        }


@dataclass
class Position:
    units: Decimal
    cost_basis: Decimal  # average cost per share


@dataclass
class Order:
    """One order; open quantity is derived so the three quantities always add up."""

    brokerage_order_id: str
    account_id: str
    symbol_id: str
    action: str
    order_type: str
    time_in_force: str
    total: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: str
    placed_at: float  # simulator clock, seconds since epoch
    client_order_id: str | None = None
    trade_id: str | None = None
    filled: Decimal = Decimal("0")
    canceled: Decimal = Decimal("0")
    notional: Decimal = Decimal("0")  # sum of fill quantity * price
    triggered: bool = False  # stop condition met (Stop, StopLimit)
    commission_charged: bool = False
    updated_at: float | None = None
    executed_at: float | None = None
    expiry_date: str | None = None
    hidden: bool = False  # the brokerage's list does not show it (a lagging or lost record)

    @property
    def open_quantity(self) -> Decimal:
        if self.status in FINAL_STATUSES:
            return Decimal("0")
        return self.total - self.filled - self.canceled

    @property
    def average_price(self) -> Decimal | None:
        if self.filled == 0:
            return None
        return (self.notional / self.filled).quantize(Decimal("0.000001")).normalize()

    def to_json(self, symbol: Symbol) -> JSON:
        """The AccountOrderRecord shape."""
        def at(ts: float | None) -> str | None:
            return None if ts is None else iso(datetime.fromtimestamp(ts, UTC))

        return {
            "brokerage_order_id": self.brokerage_order_id,
            "status": self.status,
            "universal_symbol": symbol.to_json(),
            "option_symbol": None,
            "action": self.action,
            "total_quantity": dstr(self.total),
            "open_quantity": dstr(self.open_quantity),
            "canceled_quantity": dstr(self.canceled),
            "filled_quantity": dstr(self.filled),
            "execution_price": dstr(self.average_price),
            "limit_price": dstr(self.limit_price),
            "stop_price": dstr(self.stop_price),
            "order_type": self.order_type,
            "time_in_force": self.time_in_force,
            "time_placed": at(self.placed_at),
            "time_updated": at(self.updated_at),
            "time_executed": at(self.executed_at),
            "expiry_date": self.expiry_date,
            "symbol": derived_id("brokerage-symbol", f"{self.account_id}:{self.symbol_id}"),
            "child_brokerage_order_ids": None,
        }


@dataclass
class Trade:
    """A checked order from POST /trade/impact, placeable once within the TTL."""

    id: str
    user_id: str
    account_id: str
    form: JSON  # normalized order form (Decimal values)
    created: float  # simulator clock
    used: bool = False
