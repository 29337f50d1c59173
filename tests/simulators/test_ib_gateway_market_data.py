"""The simulator's market-data messages decoded by the unmodified ib_async, at both server versions."""

from __future__ import annotations

import datetime as dt

import pytest
from ib_async import MarketOrder, Option, RequestError, Stock

from simulators.ib_gateway import IBGatewaySimulator
from simulators.ib_gateway.historical import generate_bars
from simulators.ib_gateway.instruments import InstrumentBook
from tests.simulators.ibclient import connect, run, until

AAPL = Stock("AAPL", "SMART", "USD")
END = "20250627 20:00:00 UTC"


def test_historical_bars_are_deterministic_and_anchored_on_the_price() -> None:
    book = InstrumentBook()
    inst = book.lookup("AAPL")
    end = dt.datetime(2025, 6, 27, 20, tzinfo=dt.UTC)
    first = generate_bars(inst, end, "1 M", "1 day", True, "TRADES")
    assert first == generate_bars(inst, end, "1 M", "1 day", True, "TRADES")
    assert first[-1].close == inst.quote.last and all(b.start.weekday() < 5 for b in first)
    assert len(generate_bars(inst, end, "1 D", "30 mins", True, "TRADES")) == 13
    late = dt.datetime(2025, 6, 28, 0, tzinfo=dt.UTC)  # 20:00 in New York: the extended session is over
    assert len(generate_bars(inst, late, "1 D", "30 mins", False, "TRADES")) == 32
    assert all(b.volume is None for b in generate_bars(inst, end, "1 W", "1 day", True, "MIDPOINT"))


def test_history_head_timestamp_and_errors_on_the_wire(sim: IBGatewaySimulator) -> None:
    async def scenario() -> None:
        ib = await connect(sim)
        ib.RaiseRequestErrors = True
        [stock] = await ib.qualifyContractsAsync(AAPL)
        bars = await ib.reqHistoricalDataAsync(stock, END, "2 D", "1 hour", "TRADES", True, formatDate=2)
        assert len(bars) == 14 and bars[0].date == dt.datetime(2025, 6, 26, 13, 30, tzinfo=dt.UTC)
        daily = await ib.reqHistoricalDataAsync(stock, END, "1 W", "1 day", "TRADES", True, formatDate=1)
        assert [b.date for b in daily][-1] == dt.date(2025, 6, 27)
        head = await ib.reqHeadTimeStampAsync(stock, "TRADES", True, 2)
        assert isinstance(head, dt.datetime) and head.year < dt.date.today().year - 10
        with pytest.raises(RequestError) as nothing:
            await ib.reqHistoricalDataAsync(stock, "19900105 20:00:00 UTC", "1 W", "1 day", "TRADES", True)
        assert nothing.value.code == 162 and "no data" in nothing.value.message
        sim.market_data.deny_live("AAPL")
        with pytest.raises(RequestError) as denied:
            await ib.reqHistoricalDataAsync(stock, END, "1 W", "1 day", "TRADES", True)
        assert denied.value.code == 162 and "permissions" in denied.value.message
        sim.market_data.allow_all()
        sim.market_data.pace_historical(1, window_seconds=60)
        await ib.reqHistoricalDataAsync(stock, END, "1 W", "1 day", "TRADES", True)
        with pytest.raises(RequestError) as paced:
            await ib.reqHistoricalDataAsync(stock, END, "2 W", "1 day", "TRADES", True)
        assert "pacing violation" in paced.value.message and "Retry in" in paced.value.message
        ib.disconnect()

    run(scenario())


def test_option_parameters_greeks_and_entitlements(sim: IBGatewaySimulator) -> None:
    async def scenario() -> None:
        ib = await connect(sim)
        ib.RaiseRequestErrors = True
        chains = await ib.reqSecDefOptParamsAsync("SPY", "", "STK", 756733)
        assert {c.exchange for c in chains} == {"SMART", "CBOE"}
        assert chains[0].expirations == [sim.option_expiry()] and chains[0].strikes == [480, 490, 500, 510, 520]
        assert await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598) == []
        [option] = await ib.qualifyContractsAsync(Option("SPY", sim.option_expiry(), 500, "C", "SMART"))
        [ticker] = await ib.reqTickersAsync(option)
        assert ticker.modelGreeks is not None and 0.4 < (ticker.modelGreeks.delta or 0) < 0.7
        [stock] = await ib.qualifyContractsAsync(AAPL)
        sim.market_data.deny_live("AAPL")
        with pytest.raises(RequestError) as refused:
            await ib.reqTickersAsync(stock)
        assert refused.value.code == 354
        ib.reqMarketDataType(4)
        sim.market_data.set_market_open(False)
        [frozen] = await ib.reqTickersAsync(stock)
        assert frozen.marketDataType == 4 and frozen.last == 190.0
        ib.disconnect()

    run(scenario())


def test_pnl_subscriptions_follow_prices_and_the_trading_day(sim: IBGatewaySimulator) -> None:
    async def scenario() -> None:
        ib = await connect(sim)
        [stock] = await ib.qualifyContractsAsync(AAPL)
        trade = ib.placeOrder(stock, MarketOrder("BUY", 10))
        await until(ib, lambda: trade.orderStatus.status == "Filled", what="fill")
        account = sim.accounts[0]
        total = ib.reqPnL(account)
        single = ib.reqPnLSingle(account, "", stock.conId)
        bought = trade.orderStatus.avgFillPrice  # the ask, 190.01
        await until(ib, lambda: single.position == 10 and total.unrealizedPnL == round((190 - bought) * 10, 2),
                    what="first P&L")
        sim.set_price("AAPL", last="191.00")
        moved = round((191 - bought) * 10, 2)
        await until(ib, lambda: single.unrealizedPnL == moved and total.dailyPnL == moved, what="P&L after a move")
        sim.market_data.start_new_day()
        await until(ib, lambda: total.dailyPnL == 0.0 and single.dailyPnL == 0.0, what="a new day")
        assert single.value == 1910.0 and total.unrealizedPnL == moved
        ib.disconnect()

    run(scenario())
