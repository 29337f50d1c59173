"""Order lifecycles through an unmodified ib_async client."""

from __future__ import annotations

from decimal import Decimal

from ib_async import (
    IB,
    Contract,
    Future,
    Index,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    Stock,
    StopLimitOrder,
    StopOrder,
    Trade,
)

from simulators.ib_gateway import IBGatewaySimulator, OrderSnapshot

from .ibclient import connect, run, until

AAPL = Stock("AAPL", "SMART", "USD")


async def qualified(ib: IB, contract: Contract) -> Contract:
    [result] = await ib.qualifyContractsAsync(contract)
    assert result is not None
    return result


async def acked(ib: IB, contract: Contract, order: Order) -> Trade:
    trade = ib.placeOrder(contract, order)
    await until(ib, lambda: trade.orderStatus.status != "PendingSubmit", what="order ack")
    return trade


async def settled(ib: IB, trade: Trade) -> None:
    """Done, and every fill has its commission report."""
    await until(
        ib, lambda: trade.isDone() and all(f.commissionReport.execId for f in trade.fills), what="fills"
    )


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: seen.append((req_id, code, msg))
    return seen


def test_market_order_full_lifecycle(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        events: list[str] = []
        ib.orderStatusEvent += lambda t: events.append(f"status:{t.orderStatus.status}")
        ib.execDetailsEvent += lambda t, f: events.append("exec")
        ib.commissionReportEvent += lambda t, f, r: events.append("commission")
        contract = await qualified(ib, AAPL)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 100, orderRef="ref-mkt-1"))
        await settled(ib, trade)
        assert trade.orderStatus.status == "Filled"
        assert (trade.orderStatus.filled, trade.orderStatus.remaining) == (100, 0)
        assert trade.orderStatus.avgFillPrice == 190.01  # the ask
        assert events == ["status:Submitted", "exec", "status:Filled", "commission"]
        [fill] = trade.fills
        assert fill.execution.orderRef == "ref-mkt-1" and fill.execution.side == "BOT"
        assert fill.execution.permId == trade.order.permId == trade.orderStatus.permId > 0
        assert fill.commissionReport.execId == fill.execution.execId
        assert fill.commissionReport.commission == 1.0
        assert fill.execution.clientId == 1
        ib.disconnect()

    run(main())
    [order] = sim.orders
    assert (order.status, order.filled, order.avg_fill_price) == ("Filled", 100, Decimal("190.01"))
    assert order.order_ref == "ref-mkt-1" and order.client_id == 1
    assert sim.placed_order_count == 1
    [execution] = sim.executions
    assert execution.perm_id == order.perm_id and execution.commission == Decimal("1.00")


def test_limit_order_rests_then_fills_when_price_moves_through(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        resting = await acked(ib, contract, LimitOrder("BUY", 50, 189.50, orderRef="lmt"))
        assert resting.orderStatus.status == "Submitted" and not resting.fills
        sim.set_price("AAPL", last="189.60")  # ask 189.61: still above the limit
        marketable = await acked(ib, contract, LimitOrder("SELL", 10, 189.00))
        await settled(ib, marketable)
        assert marketable.orderStatus.avgFillPrice == 189.59  # the bid: better than the limit
        assert resting.orderStatus.status == "Submitted"
        sim.set_price("AAPL", last="189.40")
        await settled(ib, resting)
        assert resting.orderStatus.avgFillPrice == 189.50  # resting orders fill at their limit
        ib.disconnect()

    run(main())


def test_stop_order_triggers_on_price_move(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        stop = await acked(ib, contract, StopOrder("SELL", 20, 185.00))
        assert stop.orderStatus.status == "PreSubmitted"
        sim.set_price("AAPL", last="186.00")
        assert sim.orders[0].status == "PreSubmitted"
        sim.set_price("AAPL", last="184.50")
        await settled(ib, stop)
        assert stop.orderStatus.avgFillPrice == 184.49  # triggered, then filled at the bid
        assert [e.status for e in stop.log][:3] == ["PendingSubmit", "PreSubmitted", "Submitted"]
        ib.disconnect()

    run(main())


def test_stop_limit_triggers_then_rests_then_fills(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        quick = await acked(ib, contract, StopLimitOrder("BUY", 5, 195.50, 195.00))
        slow = await acked(ib, contract, StopLimitOrder("BUY", 5, 195.00, 195.00))
        assert quick.orderStatus.status == slow.orderStatus.status == "PreSubmitted"
        sim.set_price("AAPL", last="195.00", bid="194.99", ask="195.20")
        await settled(ib, quick)
        assert quick.orderStatus.avgFillPrice == 195.20  # the ask, within the 195.50 limit
        await until(ib, lambda: slow.orderStatus.status == "Submitted", what="stop triggered")
        assert not slow.fills
        sim.set_price("AAPL", last="194.90")
        await settled(ib, slow)
        assert slow.orderStatus.avgFillPrice == 195.00
        ib.disconnect()

    run(main())


def test_partial_fills_on_request(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        trade = await acked(ib, contract, LimitOrder("BUY", 100, 180.00, orderRef="partial"))
        snapshot = sim.fill(trade.order.orderId, 30)
        assert (snapshot.filled, snapshot.remaining, snapshot.status) == (30, 70, "Submitted")
        await until(ib, lambda: trade.orderStatus.filled == 30 and len(trade.fills) == 1, what="partial")
        assert trade.orderStatus.status == "Submitted" and trade.orderStatus.remaining == 70
        sim.fill(trade.order.orderId)
        await settled(ib, trade)
        assert [f.execution.shares for f in trade.fills] == [30, 70]
        assert [f.execution.cumQty for f in trade.fills] == [30, 100]
        assert sum(f.commissionReport.commission for f in trade.fills) == 1.0  # one order minimum
        assert len({f.execution.execId for f in trade.fills}) == 2

        sim.partial_fill_next(40)
        market = ib.placeOrder(contract, MarketOrder("SELL", 100))
        await until(ib, lambda: market.orderStatus.filled == 40, what="partial market fill")
        assert market.orderStatus.status == "Submitted"
        sim.fill(market.order.orderId)
        await settled(ib, market)
        ib.disconnect()

    run(main())


def test_cancel_and_cancel_errors(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        errors = errors_of(ib)
        contract = await qualified(ib, AAPL)
        trade = await acked(ib, contract, LimitOrder("BUY", 10, 150.00))
        ib.cancelOrder(trade.order)
        await until(ib, lambda: trade.orderStatus.status == "Cancelled", what="cancel")
        await until(ib, lambda: any(code == 202 for _, code, _ in errors), what="202")
        ib.client.cancelOrder(99999)
        await until(ib, lambda: any(code == 10147 for _, code, _ in errors), what="unknown order")
        filled = ib.placeOrder(contract, MarketOrder("BUY", 1))
        await settled(ib, filled)
        ib.client.cancelOrder(filled.order.orderId)
        await until(ib, lambda: any(code == 10148 for _, code, _ in errors), what="cancel filled")
        ib.disconnect()

    run(main())
    assert [o.status for o in sim.orders] == ["Cancelled", "Filled"]


def test_rejections_with_reasons(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        errors = errors_of(ib)
        contract = await qualified(ib, AAPL)
        msft = await qualified(ib, Stock("MSFT", "SMART", "USD"))
        spx = await qualified(ib, Index("SPX", "CBOE", "USD"))
        cases = [
            (contract, MarketOrder("BUY", 200000), "exceeds the maximum order size"),
            (contract, MarketOrder("BUY", 1, account="DU0000000"), "not managed"),
            (msft, MarketOrder("BUY", 50000), "EQUITY WITH LOAN"),
            (spx, MarketOrder("BUY", 1), "not a tradable contract"),
            (contract, MarketOrder("BUY", 0), "must be positive"),
            (contract, Order(orderType="PEG MID", action="BUY", totalQuantity=1), "not supported"),
        ]
        for target, order, reason in cases:
            trade = ib.placeOrder(target, order)
            await until(ib, lambda t=trade: t.orderStatus.status == "Cancelled", what=reason)
            code, message = next((c, m) for rid, c, m in errors if rid == trade.order.orderId)
            assert code == 201 and message.startswith("Order rejected - reason:") and reason in message

        sim.reject_next_order("Simulated broker refusal")
        trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
        await until(ib, lambda: trade.orderStatus.status == "Cancelled", what="fault rejection")
        assert (trade.order.orderId, 201, "Order rejected - reason:Simulated broker refusal") in errors

        bad_tick = ib.placeOrder(contract, LimitOrder("BUY", 1, 190.001))
        await until(ib, lambda: bad_tick.orderStatus.status == "Cancelled", what="tick rejection")
        assert any(rid == bad_tick.order.orderId and code == 110 for rid, code, _ in errors)
        ib.disconnect()

    run(main())
    assert sim.placed_order_count == 0
    assert all(o.status == "Inactive" and o.reject_reason for o in sim.orders)
    assert len(sim.orders) == 8


def test_what_if_answers_margin_and_creates_no_order(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        state = await ib.whatIfOrderAsync(contract, MarketOrder("BUY", 100))
        assert state.status == "PreSubmitted"
        assert float(state.initMarginBefore) == 0 and float(state.initMarginChange) == 9500.0
        assert float(state.initMarginAfter) == 9500.0 and float(state.maintMarginChange) == 4750.0
        assert float(state.equityWithLoanBefore) == 1_000_000 and float(state.equityWithLoanChange) == -1.0
        assert state.commission == 1.0 and state.commissionCurrency == "USD"
        future = await qualified(ib, Future("ES", sim.front_month("ES")[:6], "CME"))
        state = await ib.whatIfOrderAsync(future, LimitOrder("SELL", 2, 4999.75))
        assert float(state.initMarginChange) == 32000 and state.commission == 4.5
        assert await ib.whatIfOrderAsync(contract, MarketOrder("BUY", 500000)) == []
        assert not ib.trades()
        ib.disconnect()

    run(main())
    assert sim.orders == [] and sim.placed_order_count == 0


def test_futures_and_options_trade(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        es = await qualified(ib, Future("ES", sim.front_month("ES"), "CME"))
        option = await qualified(ib, Option("SPY", sim.option_expiry(), 510, "P", "SMART"))
        for contract, quantity in ((es, 2), (option, 3)):
            trade = ib.placeOrder(contract, MarketOrder("BUY", quantity))
            await settled(ib, trade)
        ib.disconnect()

    run(main())
    account = sim.account()
    es_fill, option_fill = sim.executions
    assert (es_fill.price, es_fill.commission) == (Decimal("5000.25"), Decimal("4.50"))
    assert (option_fill.price, option_fill.commission) == (Decimal("14.01"), Decimal("1.95"))
    # futures do not move cash at the fill; the option premium does (x100 multiplier)
    assert account.cash == Decimal(1_000_000) - Decimal("4.50") - Decimal("1.95") - 3 * Decimal("1401")
    assert {p.sec_type: p.quantity for p in account.positions.values()} == {"FUT": 2, "OPT": 3}


def test_ioc_fok_and_modification(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        ioc = ib.placeOrder(contract, LimitOrder("BUY", 10, 180.00, tif="IOC"))
        await until(ib, lambda: ioc.orderStatus.status == "Cancelled", what="IOC")
        sim.partial_fill_next(4)
        fok = ib.placeOrder(contract, MarketOrder("BUY", 10, tif="FOK"))
        await until(ib, lambda: fok.orderStatus.status == "Cancelled", what="FOK")
        assert not ioc.fills and not fok.fills

        trade = await acked(ib, contract, LimitOrder("BUY", 10, 185.00))
        trade.order.lmtPrice = 190.05
        ib.placeOrder(contract, trade.order)
        await settled(ib, trade)
        assert trade.orderStatus.avgFillPrice == 190.01
        ib.disconnect()

    run(main())
    assert sim.modification_count == 1 and sim.placed_order_count == 3


def test_place_order_hook_sees_order_before_ack(sim_latest: IBGatewaySimulator) -> None:
    seen: list[OrderSnapshot] = []
    sim_latest.on_place_order = seen.append

    async def main() -> None:
        ib = await connect(sim_latest)
        contract = await qualified(ib, AAPL)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 5, orderRef="hooked"))
        await settled(ib, trade)
        ib.disconnect()

    run(main())
    [snapshot] = seen
    assert snapshot.status == "PendingSubmit" and snapshot.order_ref == "hooked" and snapshot.perm_id > 0
    assert sim_latest.orders[0].perm_id == snapshot.perm_id
