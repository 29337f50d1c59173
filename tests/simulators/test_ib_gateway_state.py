"""State that outlives a connection, account figures, contracts and market data."""

from __future__ import annotations

from decimal import Decimal

from ib_async import Contract, ExecutionFilter, Future, Index, LimitOrder, MarketOrder, Option, Stock

from simulators.ib_gateway import IBGatewaySimulator

from .ibclient import connect, run, until
from .test_ib_gateway_orders import AAPL, acked, errors_of, qualified, settled


def test_new_client_finds_earlier_orders_by_order_ref(sim: IBGatewaySimulator) -> None:
    async def first_session() -> int:
        ib = await connect(sim, client_id=1)
        contract = await qualified(ib, AAPL)
        filled = ib.placeOrder(contract, MarketOrder("BUY", 10, orderRef="r-filled"))
        await settled(ib, filled)
        resting = await acked(ib, contract, LimitOrder("BUY", 5, 150.00, orderRef="r-resting"))
        cancelled = await acked(ib, contract, LimitOrder("BUY", 5, 151.00, orderRef="r-cancel"))
        ib.cancelOrder(cancelled.order)
        await until(ib, lambda: cancelled.orderStatus.status == "Cancelled", what="cancel")
        ib.disconnect()
        return resting.order.orderId

    resting_id = run(first_session())

    async def other_client() -> None:
        ib = await connect(sim, client_id=2)
        # the startup sync already rebuilt trades from completed orders and executions
        assert {t.order.orderRef for t in ib.trades()} >= {"r-filled", "r-cancel"}
        assert await ib.reqOpenOrdersAsync() == []  # reqOpenOrders is per client id
        [open_trade] = await ib.reqAllOpenOrdersAsync()
        assert (open_trade.order.orderRef, open_trade.order.clientId, open_trade.order.orderId) == (
            "r-resting", 1, resting_id,
        )
        assert open_trade.orderStatus.status == "Submitted"
        completed = await ib.reqCompletedOrdersAsync(False)
        assert {(t.order.orderRef, t.orderStatus.status) for t in completed} == {
            ("r-filled", "Filled"), ("r-cancel", "Cancelled"),
        }
        assert all(t.order.permId > 0 for t in completed)
        [fill] = await ib.reqExecutionsAsync()
        assert fill.execution.orderRef == "r-filled" and fill.execution.clientId == 1
        # A repeated reqExecutions returns fresh Fill objects; ib_async puts the commission on the
        # Fill it stored the first time (ib.fills()), keyed by execId.
        [stored] = [f for f in ib.fills() if f.execution.execId == fill.execution.execId]
        assert stored.commissionReport.execId == fill.execution.execId
        assert stored.commissionReport.commission == 1.0
        assert await ib.reqExecutionsAsync(ExecutionFilter(symbol="MSFT")) == []
        assert len(await ib.reqExecutionsAsync(ExecutionFilter(side="BUY", clientId=1))) == 1
        ib.disconnect()

    run(other_client())

    async def same_client_again() -> None:
        ib = await connect(sim, client_id=1)
        [mine] = [t for t in ib.openTrades()]
        assert mine.order.orderRef == "r-resting" and mine.order.orderId == resting_id
        assert ib.client.getReqId() > resting_id  # nextValidId is past every id this client used
        ib.disconnect()

    run(same_client_again())


def test_positions_and_account_values_follow_fills(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        contract = await qualified(ib, AAPL)
        buy = ib.placeOrder(contract, MarketOrder("BUY", 100))
        await settled(ib, buy)
        sell = ib.placeOrder(contract, MarketOrder("SELL", 40))
        await settled(ib, sell)
        assert sell.fills[0].commissionReport.realizedPNL == -1.8  # (189.99 - 190.01) * 40 - 1.00

        def value(tag: str) -> str:
            return next(v.value for v in ib.accountValues() if v.tag == tag and v.currency == "USD")

        await until(ib, lambda: [p.position for p in ib.positions()] == [60], what="position push")
        await until(ib, lambda: value("TotalCashValue") == "988596.60", what="account push")
        assert value("NetLiquidation") == "999996.60"
        [position] = ib.positions()
        assert position.avgCost == 190.01 and position.contract.conId == 265598
        [item] = ib.portfolio()
        assert (item.position, item.marketPrice, item.marketValue) == (60, 190.0, 11400.0)
        [listed] = await ib.reqPositionsAsync()
        assert listed.position == 60
        summary = {v.tag: v.value for v in await ib.accountSummaryAsync()}
        assert summary["NetLiquidation"] == "999996.60" and summary["BuyingPower"] == "1988593.20"
        assert summary["AccountType"] == "INDIVIDUAL"

        sim.set_price("AAPL", last="200.00")
        await until(ib, lambda: value("NetLiquidation") == "1000596.60", what="mark-to-market push")
        ib.disconnect()

    run(main())
    account = sim.account()
    assert account.cash == Decimal("988596.60")
    assert account.positions["AAPL"].quantity == 60
    assert account.realized_pnl == Decimal("-1.80")
    assert account.buying_power == (account.net_liquidation - account.init_margin) * 2


def test_qualify_contracts_of_every_kind(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        errors = errors_of(ib)
        expiry = sim.option_expiry()
        contracts = [
            Stock("AAPL", "SMART", "USD"), Stock("SPY", "SMART", "USD"), Stock("QQQ", "SMART", "USD"),
            Future("ES", sim.front_month("ES")[:6], "CME"), Future("MES", sim.front_month("MES"), "CME"),
            Index("SPX", "CBOE", "USD"), Option("SPY", expiry, 500, "C", "SMART"), Contract(conId=272093),
        ]
        result = await ib.qualifyContractsAsync(*contracts)
        assert all(c is not None and c.conId for c in result)
        assert [c.secType for c in contracts] == ["STK", "STK", "STK", "FUT", "FUT", "IND", "OPT", "STK"]
        assert contracts[3].multiplier == "50" and contracts[3].localSymbol.startswith("ES")
        assert contracts[4].lastTradeDateOrContractMonth == sim.front_month("MES")
        assert contracts[6].multiplier == "100" and contracts[6].localSymbol.startswith("SPY   ")
        assert contracts[7].symbol == "MSFT"
        # unknown symbol: error 200 and None; futures without a month are ambiguous (two listed)
        unknown, no_month = await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD"), Future("ES", exchange="CME"))
        assert unknown is None and no_month is None
        assert any(code == 200 for _, code, _ in errors)
        chain = await ib.reqContractDetailsAsync(Option("SPY", expiry, exchange="SMART"))
        assert len(chain) == 10 and {d.contract.right for d in chain} == {"C", "P"}
        [details] = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        assert details.longName == "APPLE INC" and details.minTick == 0.01 and details.stockType == "COMMON"
        matches = await ib.reqMatchingSymbolsAsync("AA")
        assert matches is not None and [m.contract.symbol for m in matches] == ["AAPL"]
        ib.disconnect()

    run(main())


def test_snapshot_quotes_and_streaming(sim: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim)
        stock, index = await ib.qualifyContractsAsync(AAPL, Index("SPX", "CBOE", "USD"))
        assert stock is not None and index is not None
        sim.set_price("AAPL", last="191.50", bid="191.45", ask="191.55", close="189.00")
        ticker, index_ticker = await ib.reqTickersAsync(stock, index)
        assert (ticker.bid, ticker.ask, ticker.last, ticker.close) == (191.45, 191.55, 191.5, 189.0)
        assert index_ticker.last == 5000.0 and index_ticker.close == 5000.0
        assert sim.get_price("AAPL") == {
            "bid": Decimal("191.45"), "ask": Decimal("191.55"), "last": Decimal("191.50"), "close": Decimal("189.00"),
        }
        ib.reqMarketDataType(3)
        [delayed] = await ib.reqTickersAsync(stock)
        assert delayed.last == 191.5 and delayed.marketDataType == 3
        await ib.reqCurrentTimeAsync()  # reqMarketDataType has no answer; make sure it arrived
        assert any(m == 59 and f[2] == "3" for _, m, f in sim.received)

        stream = ib.reqMktData(stock)
        await until(ib, lambda: stream.last == 191.5, what="stream start")
        sim.set_price("AAPL", last="192.00")
        await until(ib, lambda: stream.last == 192.0 and stream.bid == 191.99, what="stream update")
        ib.cancelMktData(stock)
        ib.disconnect()

    run(main())


def test_global_cancel_and_end_of_day(sim_latest: IBGatewaySimulator) -> None:
    async def main() -> None:
        ib = await connect(sim_latest)
        contract = await qualified(ib, AAPL)
        day = await acked(ib, contract, LimitOrder("BUY", 1, 150.00))
        gtc = await acked(ib, contract, LimitOrder("BUY", 1, 150.00, tif="GTC"))
        assert sim_latest.expire_day_orders() == 1
        await until(ib, lambda: day.orderStatus.status == "Cancelled", what="day expiry")
        assert gtc.orderStatus.status == "Submitted"
        ib.reqGlobalCancel()
        await until(ib, lambda: gtc.orderStatus.status == "Cancelled", what="global cancel")
        ib.disconnect()

    run(main())


def test_several_accounts_route_orders_and_events() -> None:
    with IBGatewaySimulator(accounts=("DU111", "DU222"), starting_cash=Decimal(50000)) as sim:

        async def main() -> None:
            ib = await connect(sim, client_id=1)
            watcher = await connect(sim, client_id=2)
            watched: list[str] = []
            watcher.orderStatusEvent += lambda t: watched.append(t.orderStatus.status)
            errors = errors_of(ib)
            contract = await qualified(ib, AAPL)
            no_account = ib.placeOrder(contract, MarketOrder("BUY", 1))
            await until(ib, lambda: no_account.orderStatus.status == "Cancelled", what="no account")
            assert any(code == 201 and "account must be specified" in msg for _, code, msg in errors)
            trade = ib.placeOrder(contract, MarketOrder("BUY", 10, account="DU222"))
            await settled(ib, trade)
            await until(ib, lambda: any(p.account == "DU222" for p in ib.positions()), what="position")
            summary = await ib.accountSummaryAsync()
            assert {v.account for v in summary} == {"DU111", "DU222"}
            await watcher.reqCurrentTimeAsync()
            assert watched == []  # order events go to the owning client id only
            ib.disconnect()
            watcher.disconnect()

        run(main())
        assert sim.account("DU111").positions == {}
        assert sim.account("DU222").positions["AAPL"].quantity == 10
        assert sim.account("DU222").cash == Decimal(50000) - Decimal("1900.10") - Decimal("1.00")
