"""The market-data reads through the service -> real ib_async / SnapTrade SDK -> simulators, error paths included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.market_models import MarketDataKind
from tests.ibkr.conftest import wait_until
from tests.market.conftest import ACCOUNT, OTHER_ACCOUNT, Market

NO_CACHE = {"MARKET_DATA_CACHE_SECONDS": 0}


def refused(action: object, code: ErrorCode) -> TradeError:
    with pytest.raises(TradeError) as caught:
        action()  # type: ignore[operator]
    assert caught.value.code is code, caught.value.to_dict()
    return caught.value


def test_daily_and_intraday_bars_are_decimal_timezone_aware_and_consistent(market: Market) -> None:
    daily = market.service.get_historical_bars(ACCOUNT, "aapl", "daily", "1 month")
    assert (daily.ticker, daily.bar_size, daily.duration, daily.what_to_show) == ("AAPL", "1 day", "1 M", "TRADES")
    assert 18 <= daily.count <= 23 and daily.head_timestamp is not None and daily.head_timestamp.tzinfo is not None
    assert daily.bars[-1].close == Decimal("190")  # anchored on the simulator's current price
    times = [b.time for b in daily.bars]
    assert times == sorted(times) and all(t.tzinfo is not None and t.weekday() < 5 for t in times)
    for bar in daily.bars:
        assert isinstance(bar.close, Decimal) and bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close)
        assert max(bar.open, bar.close) <= bar.high and bar.volume is not None and bar.volume > 0

    friday_evening = "2025-06-27T20:00:00-04:00"  # a fixed end: counts do not depend on when the test runs
    intraday = market.service.get_historical_bars(ACCOUNT, "AAPL", "5m", "1 D", rth_only=True, end=friday_evening)
    assert intraday.count == 78  # 09:30-16:00 in 5-minute bars
    first = intraday.bars[0].time.astimezone(daily.bars[0].time.tzinfo)
    assert intraday.bars[0].time.tzinfo is not None and (first.hour, first.minute) == (9, 30)
    midpoint = market.service.get_historical_bars(ACCOUNT, "AAPL", "1 hour", "2 D", "midpoint", False, friday_evening)
    assert midpoint.count == 32 and all(b.volume is None for b in midpoint.bars)


def test_bars_errors_are_normalised(market: Market) -> None:
    error = refused(lambda: market.service.get_historical_bars(ACCOUNT, "AAPL", "7 min", "1 D"),
                    ErrorCode.VALIDATION_ERROR)
    assert "5 mins" in error.details["accepted"]
    refused(lambda: market.service.get_historical_bars(ACCOUNT, "NOPE", "1 day", "1 M"), ErrorCode.SYMBOL_NOT_FOUND)
    refused(lambda: market.service.get_historical_bars("DU999", "AAPL", "1 day", "1 M"), ErrorCode.ACCOUNT_NOT_FOUND)
    market.gateway.market_data.deny_live("MSFT")
    error = refused(lambda: market.service.get_historical_bars(ACCOUNT, "MSFT", "1 day", "1 M"),
                    ErrorCode.NO_MARKET_DATA_PERMISSION)
    assert error.details["ib_code"] == 162
    long_ago = datetime(1990, 1, 5, tzinfo=UTC)
    before = market.gateway.market_data.historical_requests
    error = refused(lambda: market.service.get_historical_bars(ACCOUNT, "AAPL", "1 day", "1 M", end=long_ago),
                    ErrorCode.NO_DATA)
    assert "head_timestamp" in error.details and market.gateway.market_data.historical_requests == before


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_pacing_violation_carries_the_wait_the_gateway_asks_for(market: Market) -> None:
    market.gateway.market_data.pace_historical(2, window_seconds=30)
    market.service.get_historical_bars(ACCOUNT, "AAPL", "1 day", "1 M")
    market.service.get_historical_bars(ACCOUNT, "AAPL", "1 day", "2 M")
    error = refused(lambda: market.service.get_historical_bars(ACCOUNT, "AAPL", "1 day", "3 M"),
                    ErrorCode.PACING_VIOLATION)
    assert error.details["retry_after_source"] == "gateway" and 0 < error.details["retry_after_seconds"] <= 30


def test_identical_reads_are_cached_per_account(market: Market) -> None:
    before = market.gateway.market_data.historical_requests
    first = market.service.get_historical_bars(ACCOUNT, "AAPL", "1 day", "1 M")
    again = market.service.get_historical_bars(ACCOUNT, "aapl", "daily", "1 month")
    assert again == first and market.gateway.market_data.historical_requests == before + 1
    other = market.service.get_historical_bars(OTHER_ACCOUNT, "AAPL", "1 day", "1 M")
    assert other.account_id == OTHER_ACCOUNT and market.gateway.market_data.historical_requests == before + 2


def test_quotes_for_many_tickers_fail_one_by_one(market: Market) -> None:
    market.gateway.market_data.deny_live("MSFT")
    market.gateway.market_data.deny_all("TSLA")
    result = market.service.get_quotes(ACCOUNT, ["AAPL", "MSFT", "NOPE", "TSLA", "SPY"])
    by_ticker = {o.ticker: o for o in result.quotes}
    assert [o.ticker for o in result.quotes] == ["AAPL", "MSFT", "NOPE", "TSLA", "SPY"]
    aapl = by_ticker["AAPL"].quote
    assert aapl is not None and aapl.market_data is MarketDataKind.LIVE
    assert (aapl.bid, aapl.ask, aapl.last) == (Decimal("189.99"), Decimal("190.01"), Decimal("190"))
    assert aapl.bid_size == aapl.ask_size == Decimal(100) and aapl.timestamp.tzinfo is not None
    assert abs(aapl.timestamp - datetime.now(UTC)) < timedelta(minutes=1)
    msft = by_ticker["MSFT"].quote
    assert msft is not None and msft.market_data is MarketDataKind.DELAYED and msft.last == Decimal("420")
    assert by_ticker["NOPE"].error is not None and by_ticker["NOPE"].error["error_code"] == "SYMBOL_NOT_FOUND"
    assert by_ticker["TSLA"].error is not None
    assert by_ticker["TSLA"].error["error_code"] == "NO_MARKET_DATA_PERMISSION"
    assert by_ticker["SPY"].quote is not None and by_ticker["SPY"].quote.last == Decimal("500")


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_quotes_are_frozen_when_the_market_is_closed(market: Market) -> None:
    market.gateway.market_data.deny_live("MSFT")
    market.gateway.market_data.set_market_open(False)
    kinds = {o.ticker: o.quote.market_data for o in market.service.get_quotes(ACCOUNT, ["AAPL", "MSFT"]).quotes
             if o.quote is not None}
    assert kinds == {"AAPL": MarketDataKind.FROZEN, "MSFT": MarketDataKind.DELAYED_FROZEN}
    preview_quote = market.service.get_quote(ACCOUNT, "AAPL")  # the order path's snapshot still asks for live data
    assert not preview_quote.delayed


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_pnl_moves_with_prices_and_equals_the_sum_over_positions(market: Market) -> None:
    market.buy(ACCOUNT, "AAPL", 10)
    market.buy(ACCOUNT, "SPY", 4)
    market.gateway.market_data.start_new_day()
    market.gateway.set_price("AAPL", "192.50")
    market.gateway.set_price("SPY", "499.00")
    pnl = wait_until(lambda: (p := market.service.get_pnl(ACCOUNT)).daily == Decimal("21") and p, what="daily P&L")
    assert {p.ticker for p in pnl.positions} == {"AAPL", "SPY"}
    for name in ("daily", "unrealized", "realized"):
        assert getattr(pnl, name) == getattr(pnl.positions_total, name), name
    by_ticker = {p.ticker: p for p in pnl.positions}
    assert by_ticker["AAPL"].daily == Decimal("25") and by_ticker["SPY"].daily == Decimal("-4")
    assert by_ticker["AAPL"].quantity == Decimal(10) and by_ticker["AAPL"].market_value == Decimal("1925")
    simulated = market.gateway.market_data.pnl(ACCOUNT)["account"]
    assert (pnl.daily, pnl.unrealized, pnl.realized) == tuple(v.quantize(Decimal("0.01")) for v in simulated)

    market.sell(ACCOUNT, "AAPL", 4)  # realizes part of the gain
    after = wait_until(lambda: (p := market.service.get_pnl(ACCOUNT)).realized and p, what="realized P&L")
    assert after.realized is not None and after.realized > 0
    assert after.realized == after.positions_total.realized and after.unrealized == after.positions_total.unrealized
    other = market.service.get_pnl(OTHER_ACCOUNT)
    assert other.positions == [] and other.daily == 0


def test_account_summary_matches_the_gateway_and_stays_per_account(market: Market) -> None:
    market.buy(ACCOUNT, "AAPL", 100)
    expected = market.gateway.account(ACCOUNT)
    summary = wait_until(lambda: (s := market.service.get_account_summary(ACCOUNT)).initial_margin and s,
                         what="margin after the fill")
    assert summary.currency == "USD" and summary.net_liquidation == expected.net_liquidation
    assert summary.cash == expected.cash and summary.buying_power == expected.buying_power
    assert summary.initial_margin == expected.init_margin == Decimal("9500.00")
    assert summary.maintenance_margin == expected.maint_margin and summary.excess_liquidity == expected.excess_liquidity
    assert [c.currency for c in summary.by_currency] == ["USD"] and summary.by_currency[0].cash == expected.cash
    other = market.service.get_account_summary(OTHER_ACCOUNT)
    assert other.cash == Decimal("1000000.00") and other.initial_margin == 0


def test_option_chain_expiries_strikes_and_a_slice_with_greeks(market: Market) -> None:
    chain = market.service.get_option_chain(ACCOUNT, "SPY")
    assert chain.expiries == [market.gateway.option_expiry()] and chain.underlying_price == Decimal("500")
    assert chain.strikes == [Decimal(s) for s in ("480", "490", "500", "510", "520")] and chain.contracts == []
    expiry = chain.expiries[0]
    sliced = market.service.get_option_chain(ACCOUNT, "SPY", f"{expiry[:4]}-{expiry[4:6]}-{expiry[6:]}")
    assert sliced.expiry == expiry and len(sliced.contracts) == 10
    call = next(c for c in sliced.contracts if c.strike == Decimal("500") and c.right == "C")
    put = next(c for c in sliced.contracts if c.strike == Decimal("500") and c.right == "P")
    assert call.ticker == f"SPY {expiry} 500 C" and call.bid is not None and call.market_data is MarketDataKind.LIVE
    assert call.greeks is not None and put.greeks is not None
    assert call.greeks.delta is not None and put.greeks.delta is not None
    assert Decimal("0.4") < call.greeks.delta < Decimal("0.7") and -Decimal("0.6") < put.greeks.delta < 0
    assert call.greeks.underlying_price == Decimal("500") and call.greeks.implied_volatility == Decimal("0.2")
    error = refused(lambda: market.service.get_option_chain(ACCOUNT, "SPY", "20300101"), ErrorCode.VALIDATION_ERROR)
    assert error.details["accepted"] == [expiry]
    refused(lambda: market.service.get_option_chain(ACCOUNT, "AAPL"), ErrorCode.NO_DATA)
    refused(lambda: market.service.get_option_chain(ACCOUNT, "/ES"), ErrorCode.UNSUPPORTED)


def test_snaptrade_offers_quotes_and_summary_and_says_unsupported_for_the_rest(market: Market) -> None:
    account = market.snaptrade_account
    result = market.service.get_quotes(account, ["AAPL", "MSFT", "NOPE"])
    quotes = {o.ticker: o for o in result.quotes}
    assert quotes["AAPL"].quote is not None and quotes["AAPL"].quote.bid_size == Decimal(100)
    assert quotes["AAPL"].quote.market_data is MarketDataKind.UNKNOWN
    assert quotes["NOPE"].error is not None and quotes["NOPE"].error["error_code"] == "SYMBOL_NOT_FOUND"
    summary = market.service.get_account_summary(account)
    assert summary.cash == Decimal("100000") and summary.currency == "USD" and summary.initial_margin is None
    assert [c.currency for c in summary.by_currency] == ["USD"]
    for action in (lambda: market.service.get_historical_bars(account, "AAPL", "1 day", "1 M"),
                   lambda: market.service.get_pnl(account),
                   lambda: market.service.get_option_chain(account, "AAPL")):
        error = refused(action, ErrorCode.UNSUPPORTED)
        assert error.details["provider"] == "snaptrade"


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_a_multi_currency_account_reports_a_ledger_per_currency(market: Market) -> None:
    market.gateway.market_data.set_foreign_cash(ACCOUNT, "EUR", "10000", "1.10")
    summary = wait_until(lambda: len((s := market.service.get_account_summary(ACCOUNT)).by_currency) == 2 and s,
                         what="the EUR ledger")
    assert summary.currency == "USD" and summary.cash == Decimal("1011000.00")
    assert summary.net_liquidation == Decimal("1011000.00")
    usd, eur = summary.by_currency
    assert (usd.currency, usd.cash, usd.net_liquidation, usd.exchange_rate) == (
        "USD", Decimal("1000000.00"), Decimal("1000000.00"), Decimal("1.00"))
    assert (eur.currency, eur.cash, eur.net_liquidation, eur.exchange_rate) == (
        "EUR", Decimal("10000.00"), Decimal("10000.00"), Decimal("1.10"))
    assert usd.net_liquidation + eur.net_liquidation * eur.exchange_rate == summary.net_liquidation


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_a_refused_snaptrade_batch_is_asked_again_ticker_by_ticker(market: Market) -> None:
    account = market.snaptrade_account
    market.snaptrade.inject_fault("GET", r"/quotes", status=400, count=1)
    recovered = market.service.get_quotes(account, ["AAPL", "MSFT", "SPY"])
    assert all(o.quote is not None for o in recovered.quotes)
    market.snaptrade.inject_fault("GET", r"/quotes", status=400, count=2)  # the batch and one single
    partial = market.service.get_quotes(account, ["AAPL", "MSFT", "SPY"])
    failed = [o for o in partial.quotes if o.error is not None]
    assert len(failed) == 1 and failed[0].error is not None and failed[0].error["error_code"] == "BROKER_REJECTED"
    assert [o.ticker for o in partial.quotes] == ["AAPL", "MSFT", "SPY"]
    market.snaptrade.inject_fault("GET", r"/quotes", status=503, count=1)  # an outage is not multiplied
    refused(lambda: market.service.get_quotes(account, ["AAPL", "MSFT"]), ErrorCode.BROKER_UNAVAILABLE)


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_a_quote_that_never_comes_fails_alone_within_the_time_limit(market: Market) -> None:
    assert market.service.get_quotes(ACCOUNT, ["NVDA"]).quotes[0].quote is not None  # an earlier answer...
    market.gateway.market_data.silence("NVDA")
    result = market.service.get_quotes(ACCOUNT, ["AAPL", "NVDA", "SPY"])  # ...is not passed off as a new one
    outcomes = {o.ticker: o for o in result.quotes}
    assert outcomes["NVDA"].error is not None and outcomes["NVDA"].error["error_code"] == "BROKER_UNAVAILABLE"
    assert outcomes["AAPL"].quote is not None and outcomes["SPY"].quote is not None
    market.gateway.market_data.allow_all()
    again = market.service.get_quotes(ACCOUNT, ["NVDA"])  # the connection is still usable
    assert again.quotes[0].quote is not None and again.quotes[0].quote.last == Decimal("120")


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_pnl_and_quotes_subscribe_again_after_the_gateway_restarts(market: Market) -> None:
    market.buy(ACCOUNT, "AAPL", 5)
    first = market.service.get_pnl(ACCOUNT)
    assert [p.ticker for p in first.positions] == ["AAPL"]
    market.gateway.restart()

    def answered() -> object:
        try:
            return market.service.get_pnl(ACCOUNT)
        except TradeError as exc:
            assert exc.code is ErrorCode.BROKER_UNAVAILABLE, exc.to_dict()
            return None

    again = wait_until(answered, timeout=30, what="P&L after the restart")
    assert [p.ticker for p in again.positions] == ["AAPL"] and again.unrealized == first.unrealized
    assert market.service.get_quotes(ACCOUNT, ["AAPL"]).quotes[0].quote is not None
