"""A deliberately simple in-memory broker for the database-bound figures.

It answers instantly and counts what reaches it, so the figures that use it measure the
service and the database, and the duplicate storm can count placements. It is not a
model of any real broker (the simulators are).
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

from brokers.base import BrokerAdapter
from brokers.errors import ErrorCode, TradeError
from brokers.models import (
    AccountBalance,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    BrokerPreview,
    BrokerProvider,
    OrderLookup,
    OrderRequest,
    OrderStatus,
    OrderToPlace,
    OrderType,
    Position,
    Quote,
    SymbolMatch,
    TimeInForce,
)

PRICE = Decimal("100.00")
CASH = Decimal("1000000000")


class BenchBroker(BrokerAdapter):
    """Paper accounts with unlimited cash; every order is booked as ACCEPTED (working)."""

    def __init__(self, accounts: tuple[str, ...] = ("DUBENCH1",)) -> None:
        self.provider = BrokerProvider.IBKR
        self.capabilities = BrokerCapabilities(order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce))
        self.accounts = set(accounts)
        self.orders: dict[str, BrokerOrder] = {}
        self.place_calls = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def owns_account(self, account_id: str) -> bool:
        return account_id in self.accounts

    def list_accounts(self) -> list[BrokerAccount]:
        return [BrokerAccount(account_id=a, provider=self.provider, is_paper=True) for a in sorted(self.accounts)]

    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        return [SymbolMatch(ticker=ticker, broker_symbol_id=f"sym-{ticker}")]

    def get_quote(self, account_id: str, ticker: str) -> Quote:
        return Quote(ticker=ticker, bid=PRICE - Decimal("0.01"), ask=PRICE + Decimal("0.01"), last=PRICE)

    def get_account_balance(self, account_id: str) -> AccountBalance:
        return AccountBalance(account_id=account_id, cash=CASH, buying_power=CASH, net_liquidation=CASH)

    def get_positions(self, account_id: str) -> list[Position]:
        return []

    def preview_order(self, order: OrderRequest) -> BrokerPreview:
        quote = self.get_quote(order.account_id, order.ticker)
        return BrokerPreview(broker_symbol_id=f"sym-{order.ticker}", estimated_price=PRICE,
                             estimated_commission=Decimal("1.00"), quote=quote, raw={"bench": True})

    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder:
        with self._lock:
            self.place_calls += 1
            oid = str(next(self._ids))
            booked = BrokerOrder(
                account_id=account_id, brokerage_order_id=oid, client_order_ref=client_order_ref,
                status=OrderStatus.ACCEPTED, ticker=order.request.ticker, side=order.request.side,
                quantity=order.request.quantity, filled_quantity=Decimal(0),
                remaining_quantity=order.request.quantity, raw={"order_id": oid},
            )
            self.orders[oid] = booked
        return booked

    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if o.account_id == account_id]

    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        found = self.orders.get(brokerage_order_id)
        if found is None:
            raise TradeError(ErrorCode.ORDER_NOT_FOUND, "no such order")
        return found

    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        found = self.get_order(account_id, brokerage_order_id)
        canceled = found.model_copy(update={"status": OrderStatus.CANCELED, "remaining_quantity": Decimal(0)})
        self.orders[brokerage_order_id] = canceled
        return canceled

    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        return next((o for o in self.orders.values() if o.client_order_ref == lookup.client_order_ref), None)
