"""Faults on demand: delays, dropped connections, restarts, connectivity notices."""

from __future__ import annotations

import asyncio
import time

import pytest
from ib_async import IB, LimitOrder, MarketOrder

from simulators.ib_gateway import IBGatewaySimulator

from .ibclient import connect, run, until, until_disconnected
from .test_ib_gateway_orders import AAPL, acked, errors_of, qualified, settled


def test_delayed_acks_and_cancel_before_ack(sim: IBGatewaySimulator) -> None:
    sim.delay_acks_ms = 300

    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        started = time.monotonic()
        trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
        await until(ib, lambda: trade.orderStatus.status != "PendingSubmit", what="delayed ack")
        assert time.monotonic() - started >= 0.3
        await settled(ib, trade)

        pending = ib.placeOrder(contract, LimitOrder("BUY", 1, 150.00))
        ib.cancelOrder(pending.order)
        await until(ib, lambda: pending.orderStatus.status == "Cancelled", what="cancel before ack")
        sim.delay_acks_ms = 0
        late = await acked(ib, contract, LimitOrder("BUY", 1, 150.00))  # queued behind nothing now
        assert late.orderStatus.status == "Submitted"
        ib.disconnect()

    run(main())
    assert [o.status for o in sim.orders] == ["Filled", "Cancelled", "Submitted"]


def test_delayed_fills(sim: IBGatewaySimulator) -> None:
    sim.delay_fills_ms = 300

    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        started = time.monotonic()
        trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
        await until(ib, lambda: trade.orderStatus.status == "Submitted", what="ack")
        assert not trade.fills
        await settled(ib, trade)
        assert time.monotonic() - started >= 0.3
        ib.disconnect()

    run(main())


def test_drop_before_ack_leaves_no_order(sim: IBGatewaySimulator) -> None:
    sim.drop_connection_on_place("before_ack")

    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 10, orderRef="lost"))
        await until_disconnected(ib)
        assert trade.orderStatus.status == "PendingSubmit"
        again = await connect(sim)
        assert not [t for t in again.trades() if t.order.orderRef == "lost"]
        assert not [f for f in again.fills() if f.execution.orderRef == "lost"]
        again.disconnect()

    run(main())
    assert sim.orders == [] and sim.placed_order_count == 0
    assert [m for _, m, _ in sim.received].count(3) == 1


def test_drop_after_ack_keeps_the_order_for_reconciliation(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        sim.drop_connection_on_place("after_ack")
        trade = ib.placeOrder(contract, MarketOrder("BUY", 10, orderRef="in-doubt"))
        await until_disconnected(ib)
        assert trade.orderStatus.status == "PendingSubmit"  # the client never heard back
        sim.drop_connection_on_place("after_ack")
        ib = await connect(sim)
        resting = ib.placeOrder(contract, LimitOrder("BUY", 10, 150.00, orderRef="in-doubt-2"))
        await until_disconnected(ib)
        assert resting.orderStatus.status == "PendingSubmit"

        ib = await connect(sim)
        done = [t for t in ib.trades() if t.order.orderRef == "in-doubt"]
        assert [t.orderStatus.status for t in done] == ["Filled"]
        assert [f.execution.shares for f in ib.fills() if f.execution.orderRef == "in-doubt"] == [10]
        [open_trade] = ib.openTrades()  # same client id: its open order comes back
        assert open_trade.order.orderRef == "in-doubt-2" and open_trade.order.orderId == resting.order.orderId
        ib.disconnect()

    run(main())
    assert [(o.order_ref, o.status) for o in sim.orders] == [("in-doubt", "Filled"), ("in-doubt-2", "Submitted")]
    assert sim.placed_order_count == 2
    assert sim.account().positions["AAPL"].quantity == 10


def test_stop_and_restart_keep_state_and_port(sim: IBGatewaySimulator) -> None:
    port = sim.port

    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        filled = ib.placeOrder(contract, MarketOrder("BUY", 7, orderRef="before-restart"))
        await settled(ib, filled)
        await acked(ib, contract, LimitOrder("SELL", 7, 250.00, orderRef="resting-across"))
        sim.stop()
        await until_disconnected(ib)
        with pytest.raises(ConnectionRefusedError):
            await IB().connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        sim.start()
        assert sim.port == port
        ib = await connect(sim)
        assert [t.order.orderRef for t in ib.openTrades()] == ["resting-across"]
        assert [f.execution.orderRef for f in ib.fills()] == ["before-restart"]
        assert [p.position for p in ib.positions()] == [7]
        sim.restart()
        await until_disconnected(ib)
        ib = await connect(sim, client_id=9)
        assert [t.order.orderRef for t in await ib.reqAllOpenOrdersAsync()] == ["resting-across"]
        ib.disconnect()

    run(main())
    assert sim.connection_count == 3  # the refused attempt never reached the simulator


def test_connectivity_notices(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        errors = errors_of(ib)
        await ib.reqCurrentTimeAsync()
        sim.clear_received()
        sim.send_connectivity_notice(1100)
        sim.send_connectivity_notice(1102)
        await until(ib, lambda: [c for _, c, _ in errors] == [1100, 1102], what="notices")
        # ib_async answers 1102 by re-requesting the account summary
        await until(ib, lambda: bool(ib.wrapper.acctSummary), what="account summary after 1102")
        assert 62 in [m for _, m, _ in sim.received]
        assert ib.isConnected()
        ib.disconnect()

    run(main())


def test_manual_fills_and_commission_order(sim_latest: IBGatewaySimulator) -> None:
    sim_latest.auto_fill = False
    sim_latest.commission_report_first = True

    async def main() -> None:
        ib = await connect(sim_latest)
        events: list[str] = []
        ib.commissionReportEvent += lambda t, f, r: events.append("commission")
        ib.orderStatusEvent += lambda t: events.append(t.orderStatus.status)
        contract = await qualified(ib, AAPL)
        trade = await acked(ib, contract, MarketOrder("BUY", 3))
        await ib.reqCurrentTimeAsync()
        assert trade.orderStatus.status == "Submitted" and not trade.fills
        sim_latest.fill(trade.order.orderId, price="190.50")
        await settled(ib, trade)
        assert trade.orderStatus.avgFillPrice == 190.5
        assert events == ["Submitted", "commission", "Filled"]
        with pytest.raises(KeyError):
            sim_latest.fill(trade.order.orderId)
        ib.disconnect()

    run(main())


def test_hook_can_end_the_client_before_the_ack(sim_latest: IBGatewaySimulator) -> None:
    """A test can kill its client inside on_place_order; the order still lands in the book."""
    holder: dict[str, IB] = {}

    async def main() -> None:
        ib = holder["ib"] = await connect(sim_latest)
        loop = asyncio.get_running_loop()
        sim_latest.on_place_order = lambda snap: loop.call_soon_threadsafe(holder["ib"].disconnect)
        contract = await qualified(ib, AAPL)
        ib.placeOrder(contract, MarketOrder("BUY", 2, orderRef="killed"))
        await until_disconnected(ib)
        sim_latest.on_place_order = None
        again = await connect(sim_latest, client_id=4)
        completed = await again.reqCompletedOrdersAsync(False)
        assert [(t.order.orderRef, t.orderStatus.status) for t in completed] == [("killed", "Filled")]
        again.disconnect()

    run(main())
