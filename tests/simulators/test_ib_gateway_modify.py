"""Modifications on the wire: placeOrder with a live orderId changes the order as TWS does, or is refused
with TWS's code (104 for a filled order, 103 for a cancelled one, 105 for a different contract)."""

from __future__ import annotations

from decimal import Decimal

from ib_async import IB, LimitOrder, Order, Stock, Trade

from simulators.ib_gateway import IBGatewaySimulator

from .ibclient import connect, run, until
from .test_ib_gateway_orders import AAPL, acked, errors_of, qualified


async def resend(ib: IB, trade: Trade, **changes: object) -> None:
    """Re-send the order with the same orderId, as a client that did not see the order end would."""
    order = Order(**{**trade.order.__dict__, **changes})
    ib.client.placeOrder(order.orderId, trade.contract, order)


def test_modify_changes_the_working_order_and_reports_it(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        sim.auto_fill = False
        contract = await qualified(ib, AAPL)
        trade = await acked(ib, contract, LimitOrder("BUY", 10, 185.00, orderRef="keep"))
        opened: list[Trade] = []
        ib.openOrderEvent += opened.append
        await resend(ib, trade, totalQuantity=12.0, lmtPrice=186.5)
        await until(ib, lambda: bool(opened) and trade.order.totalQuantity == 12, what="the modified openOrder")
        assert trade.order.lmtPrice == 186.5 and trade.orderStatus.status == "Submitted"
        assert trade.orderStatus.remaining == 12
        ib.disconnect()

    run(main())
    [order] = sim.orders
    assert order.quantity == 12 and order.lmt_price == Decimal("186.5") and order.order_ref == "keep"
    assert sim.modification_count == 1 and sim.placed_order_count == 1


def test_modifying_a_finished_order_is_refused_with_the_gateways_code(sim: IBGatewaySimulator) -> None:
    async def main() -> list[tuple[int, int, str]]:
        ib = await connect(sim)
        sim.auto_fill = False
        seen = errors_of(ib)
        contract = await qualified(ib, AAPL)
        filled = await acked(ib, contract, LimitOrder("BUY", 10, 185.00))
        sim.fill(filled.order.orderId, quantity=10, price="185.00")
        await until(ib, lambda: filled.orderStatus.status == "Filled", what="fill")
        cancelled = await acked(ib, contract, LimitOrder("BUY", 5, 180.00))
        ib.cancelOrder(cancelled.order)
        await until(ib, lambda: cancelled.orderStatus.status == "Cancelled", what="cancel")
        working = await acked(ib, contract, LimitOrder("BUY", 5, 181.00))
        msft = await qualified(ib, Stock("MSFT", "SMART", "USD"))
        await resend(ib, filled, lmtPrice=186.0)
        await resend(ib, cancelled, lmtPrice=181.0)
        ib.client.placeOrder(working.order.orderId, msft, Order(**{**working.order.__dict__, "lmtPrice": 300.0}))
        await until(ib, lambda: len([e for e in seen if e[1] in (103, 104, 105)]) == 3, what="three refusals")
        ib.disconnect()
        return [(req, code, msg) for req, code, msg in seen if code in (103, 104, 105)]

    refusals = run(main())
    assert [code for _req, code, _msg in refusals] == [104, 103, 105]
    assert refusals[0][2] == "Can't modify a filled order."
    assert sim.modification_count == 0
    assert [o.lmt_price for o in sim.orders] == [Decimal("185.00"), Decimal("180.00"), Decimal("181.00")]
