"""IBKRBrokerAdapter: the BrokerAdapter for Interactive Brokers, over IBKRConnectionManager.

Reads are coroutines in `IBKROperations`, orders in `OrderDesk` (trading.py); each runs on the
manager's loop thread, and the BrokerAdapter methods are the synchronous doors the service uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from ib_async import IB, Trade

from brokers.base import AccountSnapshot, BrokerAdapter, OrderUpdateHandler
from brokers.errors import ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.ibkr.account_board import AccountBoard
from brokers.ibkr.brackets import BracketPlacer
from brokers.ibkr.connection import IBKRConnectionManager, LostCall, Operation
from brokers.ibkr.contracts import ContractResolver
from brokers.ibkr.lifecycle import CallKind, unavailable
from brokers.ibkr.market_source import IBKRMarketData
from brokers.ibkr.modify import modify
from brokers.ibkr.operations import IB_ACCOUNT_ID, IBKROperations, is_paper_account_id
from brokers.ibkr.orders import broker_order
from brokers.ibkr.pacing import OPERATION_COSTS
from brokers.ibkr.portfolio import refresh_summary
from brokers.ibkr.registry import shared_manager
from brokers.ibkr.trading import OrderDesk, SendGuard
from brokers.instruments import Instrument
from brokers.models import ACTIVE_STATUSES, BrokerProvider, OrderRequest, OrderStatus, OrderType, TimeInForce
from brokers.order_legs import LegOutcome, OrderSetLeg
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
from settings import Settings, TradingMode

log = logging.getLogger(__name__)
T = TypeVar("T")
ORDER_STATES = {"open": ACTIVE_STATUSES, "executed": frozenset({OrderStatus.EXECUTED})}


class IBKRBrokerAdapter(BrokerAdapter, IBKRMarketData):
    provider = BrokerProvider.IBKR
    capabilities = BrokerCapabilities(
        order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce), outside_rth=True,
        oca_groups=True, sec_types=frozenset({"STK", "FUT", "OPT"}), listing_choice=True, brackets=True,
        modify_orders=True,
    )

    def __init__(
        self,
        manager: IBKRConnectionManager,
        *,
        trading_mode: TradingMode = TradingMode.PAPER,
        allowed_accounts: tuple[str, ...] = (),
        request_timeout: float | None = None,
        ack_timeout: float | None = None,
        cancel_timeout: float | None = None,
        owns_manager: bool = False,
    ) -> None:
        self.manager = manager
        self.trading_mode = trading_mode
        self.allowed_accounts = tuple(allowed_accounts)
        self.timeout = request_timeout or manager.request_timeout
        desk = OrderDesk(
            ContractResolver(),
            ack_timeout=ack_timeout or max(self.timeout - 1.0, self.timeout * 0.8),
            cancel_timeout=cancel_timeout or min(self.timeout / 2, 5.0),
        )
        self.desk = desk
        self.ops = IBKROperations(self.owns_account, desk.resolver, snapshot_timeout=min(self.timeout / 3, 4.0))
        self._owns_manager = owns_manager
        self.board = AccountBoard()
        self._on_update: OrderUpdateHandler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._placing: set[str] = set()
        """Refs whose place_order is still running (loop thread only): their events are not pushed,
        so the row stays SUBMITTING until the service records the outcome. If the process dies in
        between, reconciliation (which settles SUBMITTING rows) finds the truth."""
        manager.order_listeners.add(self._trade_event)
        manager.reconnect_listeners.add(self._reconnected)

    @classmethod
    def from_settings(cls, settings: Settings) -> IBKRBrokerAdapter:
        """The process-wide manager for the configured gateway; the CLI and the service share it."""
        return cls(
            shared_manager(settings),
            trading_mode=settings.trading_mode,
            allowed_accounts=settings.ibkr_accounts,
            request_timeout=settings.ibkr_request_timeout_seconds,
        )

    # --- accounts (no network) ----------------------------------------------------------------
    def owns_account(self, account_id: str) -> bool:
        """IB's id shapes only: the router asks every adapter about every account."""
        if not IB_ACCOUNT_ID.match(account_id):
            return False
        return not self.allowed_accounts or account_id in self.allowed_accounts

    def is_paper_account(self, account_id: str) -> bool:
        return is_paper_account_id(account_id)

    # --- reads ---------------------------------------------------------------------------------
    def list_accounts(self) -> list[BrokerAccount]:
        return self._read(self.ops.accounts)


    def account(self, account_id: str) -> BrokerAccount | None:
        """From the accounts the gateway named when it connected, with no trip to the loop (a preview's label);
        before the first connection, by asking."""
        managed = self.manager.health().accounts
        if not managed:
            return super().account(account_id)
        return next((a for a in self.ops.listed(managed) if a.account_id == account_id), None)


    def search_symbol(self, account_id: str, ticker: str) -> list[SymbolMatch]:
        return self._read(partial(self.ops.search, account_id=account_id, ticker=ticker))


    def get_quote(self, account_id: str, ticker: str, instrument: Instrument | None = None) -> Quote:
        return self._read(partial(self.ops.quote, account_id=account_id, ticker=ticker, instrument=instrument))


    def get_account_balance(self, account_id: str) -> AccountBalance:
        """The execute-time check reads it: from what the loop thread has published (account_board.py), with
        no trip to that thread; until the account's summary has arrived, from the summary on the loop thread
        (subscribing it once: no message after that)."""
        published = self.board.balance(account_id) if self._board_answers(account_id) else None
        if published is not None:
            return published
        cached = self.manager.account_summary_cached
        return self._read(self._attached(partial(self.ops.balance, account_id=account_id)), cost=0 if cached else None)

    def _attached(self, operation: Operation[T]) -> Operation[T]:
        """`operation`, run once the board follows this connection's IB (loop thread; see account_board.py)."""
        async def run(ib: IB) -> T:
            self.board.attach(ib)
            return await operation(ib)

        return run

    def _board_answers(self, account_id: str) -> bool:
        """Only while CONNECTED (a degraded or lost gateway is answered by the loop thread, with its errors), and
        only for an account this process may use (the loop thread refuses the others)."""
        return self.manager.health().ready and self.owns_account(account_id)


    def get_positions(self, account_id: str) -> list[Position]:
        """ib_async's position cache, kept current by the gateway's pushes: sends nothing, so costs no pacing.
        Read from what the loop thread has published (account_board.py) when it can be, as the balance is."""
        published = self.board.positions(account_id) if self._board_answers(account_id) else None
        if published is not None:
            return published
        return self._read(self._attached(partial(self.ops.positions, account_id=account_id)), cost=0)


    def preview_order(self, order: OrderRequest) -> BrokerPreview:
        return self._read(partial(self.ops.preview, order=order), cost=OPERATION_COSTS["preview"])


    def preview_with_snapshot(self, order: OrderRequest) -> tuple[BrokerPreview, Callable[[], AccountSnapshot]]:
        """One trip to the loop thread, paced as a preview: the balance and positions come from ib_async's
        caches and send nothing (the first balance read subscribes the summary: budgeted as a read)."""
        cost = OPERATION_COSTS["preview"] + (0 if self.manager.account_summary_cached else OPERATION_COSTS["read"])
        preview, snapshot = self._read(self._attached(partial(self.ops.preview_with_snapshot, order=order)), cost=cost)

        def read() -> AccountSnapshot:
            if isinstance(snapshot, TradeError):
                raise snapshot
            return snapshot

        return preview, read


    def get_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        return self._read(self._checked(account_id, lambda ib: self.desk.get(ib, account_id, brokerage_order_id)),
                          cost=OPERATION_COSTS["lookup"])


    def get_orders(self, account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        orders = self._read(self._checked(account_id, lambda ib: self.desk.all_orders(ib, account_id)),
                            cost=OPERATION_COSTS["lookup"])
        return _filter(orders, state, days)


    def find_order_by_ref(self, lookup: OrderLookup) -> BrokerOrder | None:
        return self._read(self._checked(lookup.account_id, lambda ib: self.desk.find_by_ref(ib, lookup)),
                          cost=OPERATION_COSTS["lookup"])


    def refresh_after_trade(self, account_id: str) -> None:
        """Ask for fresh balances so the next preview's checks see this trade; returns at once.

        One account-summary request covers every account, so requests coalesce across accounts: at most
        one in flight, one more queued behind it however many executes asked (see Coalescer). It is a
        read: it waits in the pacing budget, never in ib_async's queue ahead of a placement."""
        self.manager.request_background("account_summary", refresh_summary, cost=OPERATION_COSTS["summary_refresh"])

    # --- orders: fail at once unless connected -----------------------------------------------------
    def place_order(self, account_id: str, order: OrderToPlace, client_order_ref: str) -> BrokerOrder:
        guard = SendGuard()
        try:
            operation, lost = self._placement(account_id, order, client_order_ref, guard)
            return self.manager.run_sync(operation, timeout=self.timeout, kind=CallKind.ORDER, on_lost=lost)
        except TradeError as exc:
            raise guard.classify(exc) from None


    def place_order_set(
        self, account_id: str, legs: list[OrderSetLeg], between: Callable[[str], None]
    ) -> list[LegOutcome]:
        """A bracket: parent and children with transmit semantics (brokers/ibkr/brackets.py)."""
        try:
            self._refuse_unsafe(account_id)
        except TradeError as exc:
            return [LegOutcome(leg.role, None, NothingSent.of(exc)) for leg in legs]
        return BracketPlacer(self.manager, self.desk, self.ops, self.timeout, self._placing).place(
            account_id, legs, between)

    def _placement(
        self, account_id: str, order: OrderToPlace, ref: str, guard: SendGuard
    ) -> tuple[Operation[BrokerOrder], LostCall]:
        """The placement and how to report it if no answer comes: the SendGuard knows whether it was sent."""
        self._refuse_unsafe(account_id)

        async def place(ib: IB) -> BrokerOrder:
            self._placing.add(ref)
            try:
                self.ops.check_account(ib, account_id)
                return await self.desk.place(ib, self.manager.session_event(), account_id, order, ref, guard)
            finally:
                self._placing.discard(ref)

        def lost(limit: float) -> TradeError:
            if guard.abandon():
                return unavailable(f"no answer from IB Gateway within {limit:g}s; the order was not sent",
                                   self.manager.endpoint, client_order_ref=ref)
            return OrderOutcomeUnknown(
                f"no acknowledgement from IB Gateway within {limit:g}s after sending; the order may exist",
                {"client_order_ref": ref, "account_id": account_id},
            )

        return place, lost

    def modify_order(
        self, account_id: str, brokerage_order_id: str, order: OrderToPlace, client_order_ref: str
    ) -> BrokerOrder:
        """Re-send placeOrder with the live order's id (brokers/ibkr/modify.py); a placement's priority and
        outcome types. Its pushed events wait, like a placement's, until the service has recorded the answer."""
        guard = SendGuard()
        try:
            self._refuse_unsafe(account_id)

            async def send(ib: IB) -> BrokerOrder:
                self._placing.add(client_order_ref)
                try:
                    self.ops.check_account(ib, account_id)
                    return await modify(self.desk, ib, self.manager.session_event(), account_id,
                                        brokerage_order_id, order, guard)
                finally:
                    self._placing.discard(client_order_ref)

            return self.manager.run_sync(send, timeout=self.timeout, kind=CallKind.ORDER,
                                         on_lost=partial(_lost_modification, guard, brokerage_order_id))
        except TradeError as exc:
            raise guard.classify(exc) from None

    def _refuse_unsafe(self, account_id: str) -> None:
        """TRADING_MODE=paper places on paper accounts only, whatever else is configured."""
        if self.trading_mode is TradingMode.PAPER and not is_paper_account_id(account_id):
            raise TradeError(
                ErrorCode.TRADING_DISABLED,
                f"TRADING_MODE=paper: {account_id} is not an IBKR paper account (DU/DF); the order was not sent",
                {"account_id": account_id, "trading_mode": "paper"},
            )
        if not self.owns_account(account_id):
            raise TradeError(ErrorCode.ACCOUNT_NOT_FOUND, f"{account_id} is not an allowed IBKR account",
                             {"account_id": account_id})

    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        return self.manager.run_sync(self._cancellation(account_id, brokerage_order_id), timeout=self.timeout,
                                     kind=CallKind.ORDER)


    def _cancellation(self, account_id: str, brokerage_order_id: str) -> Operation[BrokerOrder]:
        return self._checked(
            account_id, lambda ib: self.desk.cancel(ib, self.manager.session_event(), account_id, brokerage_order_id))

    # --- pushed events ----------------------------------------------------------------------------
    def set_order_update_handler(self, handler: OrderUpdateHandler | None) -> None:
        self._on_update = handler

    def set_reconnect_handler(self, handler: Callable[[], None] | None) -> None:
        self._on_reconnect = handler

    def _trade_event(self, trade: Trade) -> None:
        """On the loop thread: snapshot now (the Trade keeps changing), write on the worker thread."""
        if self._on_update is None or not trade.order.orderRef or trade.order.orderRef in self._placing:
            return
        update = broker_order(trade)
        if update.account_id and not self.owns_account(update.account_id):
            return
        self.manager.dispatch(self._deliver, update)

    def _deliver(self, update: BrokerOrder) -> None:
        handler = self._on_update
        if handler is not None:
            handler(self.provider, update)

    def _reconnected(self) -> None:
        handler = self._on_reconnect
        if handler is not None:
            handler()

    def close(self) -> None:
        """Stop receiving events; the shared manager stays up unless this adapter owns it."""
        self.manager.order_listeners.remove(self._trade_event)
        self.manager.reconnect_listeners.remove(self._reconnected)
        self.board.close()
        if self._owns_manager:
            self.manager.shutdown()

    # --- plumbing --------------------------------------------------------------------------------
    def _checked(self, account_id: str, operation: Operation[T]) -> Operation[T]:
        """`operation`, refused unless the gateway manages `account_id` and this process may use it."""

        async def checked(ib: IB) -> T:
            self.ops.check_account(ib, account_id)
            return await operation(ib)

        return checked

    def _read(self, operation: Operation[T], cost: int | None = None) -> T:
        return self.manager.run_sync(operation, timeout=self.timeout, cost=cost)



def _filter(orders: list[BrokerOrder], state: str, days: int) -> list[BrokerOrder]:
    since = datetime.now(UTC) - timedelta(days=days)
    wanted = ORDER_STATES.get(state)
    return [
        o for o in orders
        if (wanted is None or o.status in wanted) and (o.placed_at is None or o.placed_at >= since)
    ]


def _lost_modification(guard: SendGuard, brokerage_order_id: str, limit: float) -> TradeError:
    if guard.abandon():
        return NothingSent(f"no answer from IB Gateway within {limit:g}s; the modification was not sent")
    return OrderOutcomeUnknown(f"no answer from IB Gateway within {limit:g}s after sending the modification; it "
                               "may have been applied", {"order_id": brokerage_order_id})
