"""What adapters report and receive: accounts, quotes, positions, previews and orders as brokers see them.

Frozen and Decimal throughout; the request side (`OrderRequest`) lives in `brokers.models`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from brokers.models import BrokerProvider, OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce


class BrokerModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class BrokerCapabilities(BrokerModel):
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    fractional_quantities: bool = False
    oca_groups: bool = False
    """Orders may join a user-named one-cancels-all group (`OrderRequest.oca_group`)."""
    outside_rth: bool = False
    """Orders may be flagged to trigger/fill outside regular trading hours (`OrderRequest.outside_rth`)."""
    modify_orders: bool = False
    """A working order's quantity and prices can be changed in place (`BrokerAdapter.modify_order`)."""
    sec_types: frozenset[str] = frozenset({"STK"})
    """Security types it trades (`OrderRequest.sec_type`): STK everywhere, FUT and OPT at IBKR."""
    notional_orders: bool = False
    """Market Day stock orders may ask for a cash amount (`OrderRequest.notional`) instead of a quantity."""
    listing_choice: bool = False
    """Orders may name the listing's `exchange` and `currency` (a non-US stock such as VOD on LSE in GBP)."""
    brackets: bool = False
    """An order may be the entry of a bracket (take-profit / stop-loss children): `place_order_set`."""


class BrokerAccount(BrokerModel):
    account_id: str
    provider: BrokerProvider
    name: str | None = None
    number: str | None = None
    institution: str | None = None
    currency: str = "USD"
    is_paper: bool
    fractional_shares: bool | None = None
    """Whether the account takes fractional quantities (set from the broker's capabilities)."""


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
    exchange_rates: dict[str, Decimal] = Field(default_factory=dict)
    """Units of `currency` (the account's base) per unit of another currency, as the broker reports them
    (IB's account summary `ExchangeRate` per ledger currency); empty when the broker reports none."""


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
    commission_currency: str | None = None
    quote: Quote | None = None
    broker_trade_id: str | None = None
    broker_expires_at: datetime | None = None
    quantity: Decimal | None = None
    """The quantity the broker chose, when it chooses it: an order for a cash amount (`OrderRequest.notional`)."""
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
    in_flight_until: datetime | None = None
    """The latest moment our placement could have reached the broker: when the call returned, or its
    start plus the broker timeout when it never returned (the process died). Orders created after it
    are not ours, whatever they look like."""
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
