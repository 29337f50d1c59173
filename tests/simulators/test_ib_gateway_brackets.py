"""Attached orders on the simulated gateway through an unmodified ib_async client (issue 16): nothing works
until the set's last order transmits it, children wait for their parent's fill, OCA and parent cancels."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from ib_async import IB, LimitOrder, Stock, StopOrder, Trade

from simulators.ib_gateway import IBGatewaySimulator

from .ibclient import connect, run, until

AAPL = Stock("AAPL", "SMART", "USD")
ACCOUNT = "DU1234567"


def _bracket(ib: IB, entry: float, take_profit: float, stop_loss: float) -> list[Trade]:
    """Like ib_async's bracketOrder, with the set's OCA group named as this module names it."""
    parent = LimitOrder("BUY", 10, entry, account=ACCOUNT, orderRef="set-1", transmit=False)
    parent.orderId = ib.client.getReqId()
    exits = [LimitOrder("SELL", 10, take_profit, account=ACCOUNT, orderRef="set-1-tp", transmit=False),
             StopOrder("SELL", 10, stop_loss, account=ACCOUNT, orderRef="set-1-sl", transmit=True)]
    trades = [ib.placeOrder(AAPL, parent)]
    for order in exits:
        order.parentId, order.ocaGroup, order.ocaType = parent.orderId, "set-1-oca", 1
        trades.append(ib.placeOrder(AAPL, order))
    return trades


def _status(sim: IBGatewaySimulator) -> list[str]:
    return [o.status for o in sim.orders if o.order_ref.startswith("set-1")]


def test_nothing_works_until_the_last_leg_then_the_children_wait_for_the_parent(sim: IBGatewaySimulator) -> None:
    async def scenario() -> list[Trade]:
        ib = await connect(sim)
        try:
            [qualified] = await ib.qualifyContractsAsync(AAPL)
            assert qualified is not None
            parent = LimitOrder("BUY", 10, 191.0, account=ACCOUNT, orderRef="set-1", transmit=False)
            parent.orderId = ib.client.getReqId()
            held = ib.placeOrder(AAPL, parent)
            await asyncio.sleep(0.3)
            assert _status(sim) == ["PendingSubmit"] and held.orderStatus.status == "PendingSubmit"  # untransmitted
            child = LimitOrder("SELL", 10, 200.0, account=ACCOUNT, orderRef="set-1-tp", transmit=True)
            child.parentId, child.ocaGroup, child.ocaType = parent.orderId, "set-1-oca", 1
            exit_trade = ib.placeOrder(AAPL, child)
            await until(ib, lambda: held.orderStatus.status == "Filled", what="the parent fills")
            await until(ib, lambda: exit_trade.orderStatus.status == "Submitted", what="the child works")
            assert exit_trade.order.parentId == parent.orderId and exit_trade.order.ocaType == 1
            return [held, exit_trade]
        finally:
            ib.disconnect()

    run(scenario())
    assert _status(sim) == ["Filled", "Submitted"]


def test_one_exit_fills_the_other_is_cancelled_and_a_cancelled_parent_takes_its_children(
    sim: IBGatewaySimulator,
) -> None:
    async def scenario() -> None:
        ib = await connect(sim)
        try:
            await ib.qualifyContractsAsync(AAPL)
            resting = _bracket(ib, 180.0, 200.0, 170.0)  # the entry rests: its children are held
            await until(ib, lambda: [t.orderStatus.status for t in resting] == ["Submitted", "PreSubmitted",
                                                                                "PreSubmitted"], what="acks")
            other = await connect(sim, client_id=2)  # what the gateway reports on the wire, decoded afresh
            try:
                listed = {t.order.orderRef: t.order for t in await other.reqAllOpenOrdersAsync()}
            finally:
                other.disconnect()
            parent_id = resting[0].order.orderId
            assert [(listed[r].parentId, listed[r].ocaGroup, listed[r].ocaType) for r in ("set-1-tp", "set-1-sl")] \
                == [(parent_id, "set-1-oca", 1)] * 2
            assert (listed["set-1"].parentId, listed["set-1"].ocaGroup) == (0, "")
            sim.set_price("AAPL", last=Decimal("201"), bid=Decimal("200.99"), ask=Decimal("201.01"))
            await asyncio.sleep(0.2)
            assert resting[1].orderStatus.status == "PreSubmitted"  # held: never fills before its parent
            ib.cancelOrder(resting[0].order)
            await until(ib, lambda: all(t.orderStatus.status == "Cancelled" for t in resting), what="set cancel")
        finally:
            ib.disconnect()

    run(scenario())
    assert _status(sim) == ["Cancelled"] * 3


def test_an_attached_order_without_a_working_parent_is_refused(sim: IBGatewaySimulator) -> None:
    async def scenario() -> tuple[str, list[int]]:
        ib = await connect(sim)
        codes: list[int] = []
        ib.errorEvent += lambda _req, code, _msg, _contract: codes.append(code)
        try:
            await ib.qualifyContractsAsync(AAPL)
            orphan = LimitOrder("SELL", 10, 200.0, account=ACCOUNT, orderRef="orphan", parentId=987654)
            trade = ib.placeOrder(AAPL, orphan)
            await until(ib, lambda: bool(codes), what="the refusal")
            return trade.orderStatus.status, codes
        finally:
            ib.disconnect()

    status, codes = run(scenario())
    assert 201 in codes and status in ("Cancelled", "Inactive")
