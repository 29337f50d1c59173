"""An in-memory BrokerAdapter for the service's tests and for bench/ (never configured by BROKERS).

It keeps orders like a broker would, so exactly-once and reconciliation can be checked
by counting what actually reached it, and it answers instantly, so bench figures that use
it measure the service and the database. It is not a model of any real broker (the
simulators are).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.instruments import Instrument
from brokers.models import (
    BASIC_ORDER_TYPES,
    BrokerProvider,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from brokers.records import (
    AccountBalance,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPreview,
    OrderLookup,
    OrderToPlace,
    Position,
    Quote,
    SymbolMatch,
)


@dataclass
class MemoryAccount:
    account_id: str
    cash: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    is_paper: bool = True


class MemoryBroker(BrokerAdapter):
    def __init__(self, provider: BrokerProvider = BrokerProvider.IBKR, prefix: str = "DU") -> None:
        self.provider = provider
        self.capabilities = BrokerCapabilities(
            order_types=BASIC_ORDER_TYPES, time_in_force=frozenset(TimeInForce)
        )
        self.prefix = prefix
        self.accounts: dict[str, MemoryAccount] = {}
        self.prices: dict[str, Decimal] = {"AAPL": Decimal("190.00"), "MSFT": Decimal("410.00")}
        self.orders: dict[str, BrokerOrder] = {}
        self.place_calls = 0
        self.lock = threading.Lock()
        self._ids = itertools.count(1000)
        self.fill_market = True
        self.place_fault: Callable[[str], None] | None = None
        """Called with the client ref after the order is booked, to simulate a lost answer."""
        self.place_error: TradeError | None = None
        self.unavailable = False

    def add_account(self, account_id: str, cash: str = "100000", is_paper: bool = True, **positions: str) -> None:
        self.accounts[account_id] = MemoryAccount(
            account_id, Decimal(cash), {k: Decimal(v) for k, v in positions.items()}, is_paper
        )

    def _check(self) -> None:
        if self.unavailable:
            raise NothingSent("memory broker is down")

    def owns_account(self, account_id: str) -> bool:
        return account_id in self.accounts

    def is_paper_account(self, account_id: str) -> bool:
        account = self.accounts.get(account_id)
        return account is not None and account.is_paper

    def list_accounts(self) -> list[BrokerAccount]:
        self._check()
        return [
            BrokerAccount(account_id=a.account_id, provider=self.provider, is_paper=a.is_paper)
            for a in self.accounts.values()
        ]

    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        return [SymbolMatch(ticker=t, broker_symbol_id=f"sym-{t}") for t in self.prices if t.startswith(ticker)]

    def get_quote(self, account_id: str, ticker: str, instrument: Instrument | None = None) -> Quote:
        self._check()
        if ticker not in self.prices:
            raise TradeError(ErrorCode.SYMBOL_NOT_FOUND, f"unknown symbol {ticker}")
        price = self.prices[ticker]
        return Quote(ticker=ticker, bid=price - Decimal("0.01"), ask=price + Decimal("0.01"), last=price)

    def get_account_balance(self, account_id: str) -> AccountBalance:
        self._check()
        acct = self.accounts[account_id]
        value = acct.cash + sum(q * self.prices[t] for t, q in acct.positions.items())
        return AccountBalance(account_id=account_id, cash=acct.cash, buying_power=acct.cash, net_liquidation=value)

    def get_positions(self, account_id: str) -> list[Position]:
        self._check()
        return [
            Position(account_id=account_id, ticker=t, quantity=q, market_price=self.prices[t])
            for t, q in self.accounts[account_id].positions.items()
        ]

    def preview_order(self, order: OrderRequest) -> BrokerPreview:
        quote = self.get_quote(order.account_id, order.ticker)
        return BrokerPreview(
            broker_symbol_id=f"sym-{order.ticker}",
            estimated_price=quote.last,
            estimated_commission=Decimal("1.00"),
            quote=quote,
            raw={"memory": True},
        )

    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder:
        self._check()
        with self.lock:
            self.place_calls += 1
            if self.place_error is not None:
                raise self.place_error
            req = order.request
            oid = str(next(self._ids))
            price = self.prices[req.ticker]
            fills = req.order_type is OrderType.MARKET and self.fill_market
            booked = BrokerOrder(
                account_id=account_id,
                brokerage_order_id=oid,
                client_order_ref=client_order_ref,
                status=OrderStatus.EXECUTED if fills else OrderStatus.ACCEPTED,
                ticker=req.ticker,
                side=req.side,
                quantity=req.quantity,
                filled_quantity=req.quantity if fills else Decimal(0),
                remaining_quantity=Decimal(0) if fills else req.quantity,
                average_fill_price=price if fills else None,
                raw={"order_id": oid},
            )
            self.orders[oid] = booked
            if fills:
                acct = self.accounts[account_id]
                sign = 1 if req.side is OrderSide.BUY else -1
                acct.positions[req.ticker] = acct.positions.get(req.ticker, Decimal(0)) + sign * req.quantity
                acct.cash -= sign * req.quantity * price
        if self.place_fault is not None:
            self.place_fault(client_order_ref)
        return booked

    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if o.account_id == account_id]

    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        self._check()
        if brokerage_order_id not in self.orders:
            raise TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order")
        return self.orders[brokerage_order_id]

    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        self._check()
        order = self.get_order(account_id, brokerage_order_id)
        canceled = order.model_copy(update={"status": OrderStatus.CANCELED, "remaining_quantity": Decimal(0)})
        self.orders[brokerage_order_id] = canceled
        return canceled

    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        self._check()
        matches = [o for o in self.orders.values() if o.client_order_ref == lookup.client_order_ref]
        return matches[0] if matches else None

    def count_for_ref(self, client_order_ref: str) -> int:
        return sum(1 for o in self.orders.values() if o.client_order_ref == client_order_ref)


def lose_answer(_ref: str) -> None:
    """A fault: the broker booked the order but the answer never came back."""
    raise OrderOutcomeUnknown("connection dropped after sending")
