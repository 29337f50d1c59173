"""Modifying a working IB order: placeOrder again with the same orderId and the new terms.

IB applies a modification to the order that the placing API client owns; the gateway confirms it
with an openOrder carrying the new terms (and an orderStatus), or refuses it with an error on that
orderId (104 "Can't modify a filled order", 201 for a refused change, ...). A refused modification
leaves the original order working, so the refusal's traces are taken back out of the Trade, where
ib_async would otherwise mark the live order Cancelled. Like a placement, nothing here retries:
once sent, silence is OrderOutcomeUnknown.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from ib_async import IB, Order, Trade

from brokers.errors import BrokerRefused, ErrorCode, NothingSent, OrderOutcomeUnknown, TradeError
from brokers.ibkr.decimals import to_decimal
from brokers.ibkr.orders import broker_order, build_order, effective_status
from brokers.ibkr.status import INFORMATIONAL_CODES, NO_MARKET_DATA_CODES
from brokers.ibkr.trading import OrderDesk, SendGuard, _not_found, _perm_id, _session_trade, wait_for_trade
from brokers.models import OrderRequest
from brokers.records import BrokerOrder, OrderToPlace

NOT_REFUSALS = INFORMATIONAL_CODES | NO_MARKET_DATA_CODES | frozenset({399, 404, 10349})
"""Messages on the order's id that do not answer the modification (notices, data, 'held' warnings)."""


def _not_modifiable(message: str, brokerage_order_id: str, **details: object) -> TradeError:
    return TradeError(ErrorCode.ORDER_NOT_MODIFIABLE, message, {"order_id": brokerage_order_id, **details})


def modified_order(trade: Trade, request: OrderRequest, account_id: str) -> Order:
    """The order to re-send: the new terms on the live order's identity (id, client, permId, parent, OCA)."""
    live = trade.order
    order = build_order(request, account_id, live.orderRef)
    order.orderId, order.clientId, order.permId = live.orderId, live.clientId, live.permId
    order.parentId = live.parentId
    if request.oca_group is None:
        order.ocaGroup, order.ocaType = live.ocaGroup, live.ocaType
    return order


def _confirms(trade: Trade, sent: Order) -> bool:
    """The gateway's openOrder shows the new terms (ib_async copies quantity, prices and type into the Trade)."""
    live = trade.order
    pairs = [(live.totalQuantity, sent.totalQuantity), (live.lmtPrice, sent.lmtPrice), (live.auxPrice, sent.auxPrice)]
    return live.orderType == sent.orderType and all(_same(a, b) for a, b in pairs)


def _same(left: float | Decimal | None, right: float | Decimal | None) -> bool:
    a, b = to_decimal(left), to_decimal(right)
    return a == b or (a is None and b is None)


def _refusal(trade: Trade, since: int) -> tuple[int, str] | None:
    for entry in trade.log[since:]:
        if entry.errorCode and entry.errorCode not in NOT_REFUSALS:
            return entry.errorCode, entry.message
    return None


def _take_back(trade: Trade, since: int, status: str) -> None:
    """A refused modification left the order as it was: drop the refusal's entries and ib_async's Cancelled."""
    trade.log[since:] = [e for e in trade.log[since:] if not e.errorCode or e.errorCode in NOT_REFUSALS]
    trade.orderStatus.status = status


async def modify(
    desk: OrderDesk, ib: IB, lost: asyncio.Event, account_id: str, brokerage_order_id: str,
    to_place: OrderToPlace, guard: SendGuard,
) -> BrokerOrder:
    """Send the modification once and wait for the gateway's answer (the send point is the SendGuard's)."""
    trade = _session_trade(ib, _perm_id(brokerage_order_id))
    if trade is None:
        await desk._refresh(ib, account_id)
        trade = _session_trade(ib, _perm_id(brokerage_order_id))
    if trade is None or trade.order.account not in ("", account_id):
        raise _not_found(account_id, brokerage_order_id)
    if desk._over(trade):
        raise _not_modifiable(f"the order is {effective_status(trade) or 'done'} at IBKR; nothing was sent",
                              brokerage_order_id, ib_status=effective_status(trade))
    if trade.order.orderId <= 0 or trade.order.clientId != ib.client.clientId:
        raise _not_modifiable(
            f"order {brokerage_order_id} was placed by API client id {trade.order.clientId}; IB only lets that "
            "client (or TWS) modify it", brokerage_order_id, client_id=trade.order.clientId)
    order = modified_order(trade, to_place.request, account_id)
    seen, status = len(trade.log), trade.orderStatus.status
    if not guard.begin_send():
        raise NothingSent("the caller gave up before the modification was sent")
    try:
        ib.placeOrder(trade.contract, order)
    except ConnectionError:
        raise NothingSent("not connected to IB Gateway; the modification was not sent") from None
    await _answer(trade, order, lost, desk.ack_timeout, ib, seen, brokerage_order_id)
    refused = _refusal(trade, seen)
    if refused is not None:
        _take_back(trade, seen, status)
        raise BrokerRefused(f"IBKR refused the modification ({refused[0]}: {refused[1]}); the order keeps its "
                            "previous terms", {"order_id": brokerage_order_id, "code": refused[0]})
    live = trade.order  # ib_async copies only quantity, prices, type and ref from the gateway's openOrder
    live.trailingPercent, live.trailStopPrice = order.trailingPercent, order.trailStopPrice
    live.lmtPriceOffset, live.tif, live.outsideRth = order.lmtPriceOffset, order.tif, order.outsideRth
    return broker_order(trade)


async def _answer(
    trade: Trade, order: Order, lost: asyncio.Event, timeout: float, ib: IB, seen: int, brokerage_order_id: str
) -> None:
    def answered(t: Trade) -> bool:
        return _refusal(t, seen) is not None or _confirms(t, order)

    details = {"order_id": brokerage_order_id, "ib_order_id": order.orderId}
    try:
        await wait_for_trade(trade, answered, lost, timeout, also=(ib.openOrderEvent,))
    except TimeoutError:
        raise OrderOutcomeUnknown(
            f"IB Gateway did not confirm the modification of order {order.orderId} within {timeout:g}s; it may "
            "have been applied: check the order before changing it again", details) from None
    except ConnectionError:
        raise OrderOutcomeUnknown(
            f"the connection to IB Gateway dropped after the modification of order {order.orderId} was sent; it "
            "may have been applied", details) from None
