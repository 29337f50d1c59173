"""Bracket placement at IBKR: a parent and its children, transmitted together, each leg sent once.

On the wire, as TWS expects a bracket: the entry gets its orderId up front and `transmit=False`;
each child carries `parentId` = that orderId, the set's OCA group (`<entry ref>-oca`, ocaType 1) and
`transmit=False`, except the last, whose `transmit=True` releases the whole set. Nothing trades
until the set is complete; the children work only once the entry has filled.

The entry and its children go out in two loop calls, so the caller's checkpoint between them is a
real "the entry was sent, its children were not" (the half-placed set reconciliation settles).
Each leg's outcome is one of the three placement outcomes, decided by a SendGuard per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ib_async import IB, Contract, Trade

from brokers.bracket_rules import OCA_SUFFIX
from brokers.errors import BrokerRefused, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.ibkr.connection import IBKRConnectionManager, LostCall
from brokers.ibkr.lifecycle import CallKind, unavailable
from brokers.ibkr.operations import IBKROperations
from brokers.ibkr.orders import broker_order, build_order, effective_status, order_error
from brokers.ibkr.status import ACKNOWLEDGED_IB_STATUSES
from brokers.ibkr.trading import OrderDesk, SendGuard, wait_for_trade
from brokers.models import OrderStatus
from brokers.order_legs import LegOutcome, OrderSetLeg

OCA_CANCEL_WITH_BLOCK = 1


@dataclass(frozen=True)
class SentEntry:
    contract: Contract
    trade: Trade


class BracketPlacer:
    def __init__(self, manager: IBKRConnectionManager, desk: OrderDesk, ops: IBKROperations, timeout: float,
                 placing: set[str]) -> None:
        self.manager = manager
        self.desk = desk
        self.ops = ops
        self.timeout = timeout
        self.placing = placing

    def place(self, account_id: str, legs: list[OrderSetLeg], between: Callable[[str], None]) -> list[LegOutcome]:
        try:
            return self._place(account_id, legs, between)
        finally:
            self._release(legs)  # whatever happened, the legs' pushed events are recorded again

    def _place(self, account_id: str, legs: list[OrderSetLeg], between: Callable[[str], None]) -> list[LegOutcome]:
        entry, children = legs[0], legs[1:]
        guard = SendGuard()
        try:
            sent = self.manager.run_sync(self._send_entry(account_id, entry, guard), timeout=self.timeout,
                                         kind=CallKind.ORDER, on_lost=self._lost(guard, entry, account_id))
        except TradeError as exc:
            not_sent = NothingSent("the entry was not placed, so this leg was not sent")
            return [LegOutcome(entry.role, None, guard.classify(exc)),
                    *(LegOutcome(c.role, None, not_sent) for c in children)]
        between("after_entry_sent")
        child_guard = SendGuard()
        try:
            return self.manager.run_sync(self._send_children(account_id, sent, legs, child_guard),
                                         timeout=self.timeout, kind=CallKind.ORDER,
                                         on_lost=self._lost(child_guard, children[0], account_id))
        except TradeError as exc:
            error = child_guard.classify(exc)
            held = OrderOutcomeUnknown(
                "the entry reached IB Gateway (held, not transmitted) but its protective orders may not have; "
                "reconciliation cancels an entry left without them", {"client_order_ref": entry.client_order_ref})
            return [LegOutcome(entry.role, None, held if isinstance(error, NothingSent) else error),
                    *(LegOutcome(c.role, None, error) for c in children)]

    def _send_entry(self, account_id: str, entry: OrderSetLeg, guard: SendGuard) -> Any:
        async def send(ib: IB) -> SentEntry:
            self.placing.add(entry.client_order_ref)
            self.ops.check_account(ib, account_id)
            resolved = await self.desk.contract_for(ib, entry.to_place)
            order = build_order(entry.to_place.request, account_id, entry.client_order_ref)
            order.orderId = ib.client.getReqId()  # the children name it as their parentId
            order.transmit = False
            if not guard.begin_send():
                raise NothingSent("the caller gave up before the entry was sent")
            try:
                return SentEntry(resolved.contract, ib.placeOrder(resolved.contract, order))
            except ConnectionError:
                raise NothingSent("not connected to IB Gateway; the bracket was not sent") from None

        return send

    def _send_children(self, account_id: str, sent: SentEntry, legs: list[OrderSetLeg], guard: SendGuard) -> Any:
        async def send(ib: IB) -> list[LegOutcome]:
            parent = sent.trade.order
            trades = [sent.trade]
            last = len(legs) - 1
            for position, leg in enumerate(legs[1:], start=1):
                self.placing.add(leg.client_order_ref)
                order = build_order(leg.to_place.request, account_id, leg.client_order_ref)
                order.parentId = parent.orderId
                order.ocaGroup, order.ocaType = legs[0].client_order_ref + OCA_SUFFIX, OCA_CANCEL_WITH_BLOCK
                order.transmit = position == last  # the last leg releases the whole set
                if position == 1 and not guard.begin_send():
                    raise NothingSent("the caller gave up before the bracket's children were sent")
                try:
                    trades.append(ib.placeOrder(sent.contract, order))
                except ConnectionError:
                    if position == 1:
                        raise NothingSent("not connected to IB Gateway; the children were not sent") from None
                    raise
            await self._acknowledged(trades, legs)
            return [_outcome(leg, trade) for leg, trade in zip(legs, trades, strict=True)]

        return send

    async def _acknowledged(self, trades: list[Trade], legs: list[OrderSetLeg]) -> None:
        lost = self.manager.session_event()
        deadline = asyncio.get_running_loop().time() + self.desk.ack_timeout
        for trade, leg in zip(trades, legs, strict=True):
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
            try:
                await wait_for_trade(trade, _answered, lost, remaining)
            except TimeoutError:
                raise OrderOutcomeUnknown(
                    f"IB Gateway did not acknowledge the bracket's {leg.role.value} leg within "
                    f"{self.desk.ack_timeout:g}s; the set may exist and will be reconciled by its orderRefs",
                    {"client_order_ref": leg.client_order_ref}) from None
            except ConnectionError:
                raise OrderOutcomeUnknown(
                    "the connection to IB Gateway dropped after the bracket was sent; it may exist and will be "
                    "reconciled by its orderRefs", {"client_order_ref": leg.client_order_ref}) from None

    def _lost(self, guard: SendGuard, leg: OrderSetLeg, account_id: str) -> LostCall:
        def lost(limit: float) -> TradeError:
            if guard.abandon():
                return unavailable(f"no answer from IB Gateway within {limit:g}s; the {leg.role.value} leg was not "
                                   "sent", self.manager.endpoint, client_order_ref=leg.client_order_ref)
            return OrderOutcomeUnknown(f"no acknowledgement from IB Gateway within {limit:g}s after sending; the "
                                       "bracket may exist", {"client_order_ref": leg.client_order_ref,
                                                             "account_id": account_id})

        return lost

    def _release(self, legs: list[OrderSetLeg]) -> None:
        """The legs' events are pushed again (set.discard is atomic, so any thread may do it)."""
        for leg in legs:
            self.placing.discard(leg.client_order_ref)


def _answered(trade: Trade) -> bool:
    """The gateway acknowledged the leg, or refused it (a refused parent cancels its children)."""
    return effective_status(trade) in ACKNOWLEDGED_IB_STATUSES or order_error(trade) is not None


def _outcome(leg: OrderSetLeg, trade: Trade) -> LegOutcome:
    result = broker_order(trade)
    if result.status is not OrderStatus.REJECTED:
        return LegOutcome(leg.role, result, None)
    error = order_error(trade)
    message = error[1] if error else f"IB set the order {result.raw_status}"
    return LegOutcome(leg.role, None, BrokerRefused(
        f"IBKR rejected the bracket's {leg.role.value} leg: {message}",
        {"client_order_ref": leg.client_order_ref, "code": error[0] if error else None}))

