"""Placing, canceling and finding orders: coroutines that run on the connection's loop thread.

Placement is the one operation where a wrong error code costs money, so the line between
"nothing was sent" and "the order may exist" is drawn by `SendGuard`, not inferred from where
an exception happened: a caller that gives up before the send point prevents the send, and a
caller that gives up after it gets OrderOutcomeUnknown. Nothing here ever retries a placement.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from eventkit import Event
from ib_async import IB, ExecutionFilter, Fill, Trade

from brokers.errors import BrokerRefused, ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.ibkr.contracts import ContractResolver, ResolvedContract
from brokers.ibkr.instrument_contracts import confirmed_contract
from brokers.ibkr.orders import (
    broker_order,
    build_order,
    effective_status,
    is_final,
    order_error,
    order_from_fills,
    perm_id_of,
)
from brokers.ibkr.status import (
    ACKNOWLEDGED_IB_STATUSES,
    CANCEL_REFUSED_CODES,
    INSUFFICIENT_FUNDS_MARKERS,
)
from brokers.models import OrderStatus
from brokers.records import BrokerOrder, OrderLookup, OrderToPlace


class SendGuard:
    """Decides, under a lock, whether a placement was sent: shared by the caller and the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "pending"

    def begin_send(self) -> bool:
        """Called on the loop just before sending; False if the caller already gave up."""
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "sent"
            return True

    def abandon(self) -> bool:
        """Called by a caller that timed out; True means nothing was (or will be) sent."""
        with self._lock:
            if self._state == "pending":
                self._state = "abandoned"
                return True
            return False

    @property
    def sent(self) -> bool:
        with self._lock:
            return self._state == "sent"

    def classify(self, error: TradeError) -> TradeError:
        """A placement error as one of the three outcomes: unclassified errors are decided by the send point."""
        if isinstance(error, (BrokerRefused, NothingSent, OrderOutcomeUnknown)):
            return error
        if not self.sent:
            return NothingSent.of(error)
        return OrderOutcomeUnknown(f"{error.message}; the order was sent and may exist", error.details)


class OrderDesk:
    def __init__(self, resolver: ContractResolver, *, ack_timeout: float, cancel_timeout: float) -> None:
        self.resolver = resolver
        self.ack_timeout = ack_timeout
        self.cancel_timeout = cancel_timeout
        self._refresh_lock: asyncio.Lock | None = None
        self.completed: set[int] = set()
        """permIds IB listed as completed orders: an Inactive one among them was refused, not held."""

    # --- place -----------------------------------------------------------------------------
    async def place(
        self, ib: IB, lost: asyncio.Event, account_id: str, to_place: OrderToPlace, ref: str, guard: SendGuard
    ) -> BrokerOrder:
        resolved = await self.contract_for(ib, to_place)
        order = build_order(to_place.request, account_id, ref)
        if not guard.begin_send():
            raise NothingSent("the caller gave up before the order was sent")
        try:
            trade = ib.placeOrder(resolved.contract, order)
        except ConnectionError:  # raised by ib_async before anything is written to the socket
            raise NothingSent("not connected to IB Gateway; the order was not sent",
                              {"client_order_ref": ref}) from None
        details: dict[str, Any] = {"order_id": order.orderId, "client_order_ref": ref, "account_id": account_id}
        try:
            await wait_for_trade(trade, _acknowledged, lost, self.ack_timeout)
        except TimeoutError:
            raise OrderOutcomeUnknown(
                f"IB Gateway did not acknowledge order {order.orderId} within {self.ack_timeout:g}s; it may exist "
                "and will be reconciled by its orderRef", details) from None
        except ConnectionError:
            raise OrderOutcomeUnknown(
                f"the connection to IB Gateway dropped after order {order.orderId} was sent; it may exist and "
                "will be reconciled by its orderRef", details) from None
        result = broker_order(trade)
        if result.status is OrderStatus.REJECTED:
            error = order_error(trade)
            message = error[1] if error else f"IB set the order {result.raw_status}"
            insufficient = any(marker in message.lower() for marker in INSUFFICIENT_FUNDS_MARKERS)
            raise BrokerRefused(
                f"IBKR rejected the order: {message}",
                {**details, "code": error[0] if error else None, "perm_id": result.raw.get("perm_id")},
                code=ErrorCode.INSUFFICIENT_FUNDS if insufficient else ErrorCode.BROKER_REJECTED,
            )
        return result

    async def contract_for(self, ib: IB, to_place: OrderToPlace) -> ResolvedContract:
        """The contract the preview priced, by conId: exactly what the human confirmed (instrument_contracts)."""
        return await confirmed_contract(self.resolver, ib, to_place)

    # --- cancel ----------------------------------------------------------------------------
    async def cancel(self, ib: IB, lost: asyncio.Event, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        trade, fills = await self._trade(ib, account_id, brokerage_order_id)
        if self._over(trade):
            return self._snapshot(trade, fills)  # nothing left to cancel: report the final state
        if trade.order.clientId not in (0, ib.client.clientId):
            raise TradeError(
                ErrorCode.ORDER_NOT_CANCELABLE,
                f"order {brokerage_order_id} was placed by API client id {trade.order.clientId}; IB only lets "
                "that client (or TWS) cancel it",
                {"order_id": brokerage_order_id, "client_id": trade.order.clientId},
            )
        seen = len(trade.log)
        try:
            ib.cancelOrder(trade.order)
        except ConnectionError:
            raise TradeError(ErrorCode.BROKER_UNAVAILABLE, "not connected to IB Gateway; no cancel was sent") from None

        def settled(t: Trade) -> bool:
            return self._over(t) or _refusal(t, seen) is not None

        try:
            await wait_for_trade(trade, settled, lost, self.cancel_timeout)
        except TimeoutError:
            pass  # still PendingCancel: report it working, the confirmation will be pushed
        except ConnectionError:
            raise TradeError(ErrorCode.BROKER_ERROR, "the connection dropped after the cancel was sent; "
                             "check the order status", {"order_id": brokerage_order_id}) from None
        refused = _refusal(trade, seen)
        if refused is not None and not self._over(trade):
            raise TradeError(ErrorCode.ORDER_NOT_CANCELABLE, f"IBKR refused the cancel: {refused}",
                             {"order_id": brokerage_order_id})
        result = broker_order(trade)
        if result.status not in (OrderStatus.CANCELED, OrderStatus.EXECUTED):
            result = result.model_copy(update={"message": "cancel requested; IB has not confirmed it yet"})
        return result

    # --- lookups ---------------------------------------------------------------------------
    async def get(self, ib: IB, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        trade, fills = await self._trade(ib, account_id, brokerage_order_id)
        return self._snapshot(trade, fills)

    async def _trade(self, ib: IB, account_id: str, brokerage_order_id: str) -> tuple[Trade, list[Fill]]:
        """The account's order by its broker id: this session's trade (kept current by the event stream, no round
        trip), else after one refresh of open orders and executions (whose fills are returned)."""
        perm_id = _perm_id(brokerage_order_id)
        trade = _session_trade(ib, perm_id)
        fills: list[Fill] = []
        if trade is None:
            fills = await self._refresh(ib, account_id)
            trade = _session_trade(ib, perm_id)
        if trade is None or trade.order.account not in ("", account_id):
            raise _not_found(account_id, brokerage_order_id)
        return trade, fills

    async def find_by_ref(self, ib: IB, lookup: OrderLookup) -> BrokerOrder | None:
        """Open orders, completed orders, then executions, matched by orderRef."""
        fills = await self._refresh(ib, lookup.account_id)
        ref = lookup.client_order_ref
        matches = [t for t in ib.trades() if t.order.orderRef == ref and t.order.account in ("", lookup.account_id)]
        if matches:
            best = max(matches, key=lambda t: (t.order.orderId > 0, len(t.fills), len(t.log)))
            return self._snapshot(best, fills)
        own = [f for f in fills if f.execution.orderRef == ref]
        return order_from_fills(own, lookup.request, lookup.account_id) if own else None

    async def all_orders(self, ib: IB, account_id: str) -> list[BrokerOrder]:
        fills = await self._refresh(ib, account_id)
        return [self._snapshot(t, fills) for t in ib.trades() if t.order.account in ("", account_id)]

    def _over(self, trade: Trade) -> bool:
        return is_final(trade) or (effective_status(trade) == "Inactive" and perm_id_of(trade) in self.completed)

    def _snapshot(self, trade: Trade, fills: list[Fill]) -> BrokerOrder:
        return broker_order(trade, fills, completed=perm_id_of(trade) in self.completed)

    async def _refresh(self, ib: IB, account_id: str) -> list[Fill]:
        """Ask the gateway for every open and completed order and the account's executions.

        ib_async keys these requests by name, so two at once would steal each other's answer: a lock.
        """
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:
            await ib.reqAllOpenOrdersAsync()
            for trade in await ib.reqCompletedOrdersAsync(False):
                self.completed.add(perm_id_of(trade))
            return list(await ib.reqExecutionsAsync(ExecutionFilter(acctCode=account_id)))


async def wait_for_trade(
    trade: Trade, done: Callable[[Trade], bool], lost: asyncio.Event, timeout: float, also: tuple[Event, ...] = ()
) -> None:
    """Wait until `done(trade)`; TimeoutError after `timeout`, ConnectionError if the session ends first.

    `also`: further events that may make `done` true (e.g. the IB's openOrderEvent for a modification)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    changed = asyncio.Event()

    def poke(*_args: Any) -> None:
        changed.set()

    events = (trade.statusEvent, trade.fillEvent, *also)
    for event in events:
        event.connect(poke)
    try:
        while not done(trade):
            if lost.is_set():
                raise ConnectionError("the IB session ended")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            changed.clear()
            waiters = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(lost.wait())}
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
    finally:
        for event in events:
            event.disconnect(poke)


def _acknowledged(trade: Trade) -> bool:
    return effective_status(trade) in ACKNOWLEDGED_IB_STATUSES or order_error(trade) is not None


def _refusal(trade: Trade, since: int) -> str | None:
    for entry in trade.log[since:]:
        if entry.errorCode in CANCEL_REFUSED_CODES:
            return f"{entry.errorCode}: {entry.message}"
    return None


def _session_trade(ib: IB, perm_id: int) -> Trade | None:
    found = [t for t in ib.trades() if perm_id_of(t) == perm_id]
    return max(found, key=lambda t: (t.order.orderId > 0, len(t.fills))) if found else None


def _perm_id(brokerage_order_id: str) -> int:
    if not brokerage_order_id.isdigit():
        raise TradeError(ErrorCode.ORDER_NOT_FOUND, "not an IBKR order id (permId)",
                         {"order_id": brokerage_order_id[:40]})
    return int(brokerage_order_id)


def _not_found(account_id: str, brokerage_order_id: str) -> TradeError:
    return TradeError(ErrorCode.ORDER_NOT_FOUND, f"IBKR has no order {brokerage_order_id} in account {account_id}",
                      {"order_id": brokerage_order_id, "account_id": account_id})
