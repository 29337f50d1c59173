"""The market-data tools end to end: a real MCP client -> tools -> service -> ib_async / SnapTrade SDK -> simulators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_tools.server import build_server
from tests.ibkr.conftest import wait_until
from tests.market.conftest import ACCOUNT, OTHER_ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error

MARKET_TOOLS = {"get_historical_bars", "get_quotes", "get_pnl", "get_account_summary", "get_option_chain"}
NO_CACHE = {"MARKET_DATA_CACHE_SECONDS": 0}


def over_mcp(market: Market, scenario: Callable[[Client], Awaitable[Any]]) -> Any:
    server, _provider = build_server(market.service.settings, market.service)

    async def main() -> Any:
        async with Client(server) as client:
            return await scenario(client)

    return anyio.run(main)


def call(market: Market, tool: str, **arguments: Any) -> Any:
    return over_mcp(market, lambda client: client.call_tool(tool, arguments))


def test_the_tools_are_listed_read_only_with_argument_schemas(market: Market) -> None:
    listed = {t.name: t for t in over_mcp(market, lambda c: c.list_tools()).tools}
    assert MARKET_TOOLS <= set(listed)
    for name in MARKET_TOOLS:
        hints = listed[name].annotations
        assert hints is not None and hints.read_only_hint is True and hints.destructive_hint is False, name
    bars = listed["get_historical_bars"].input_schema
    assert set(bars["required"]) == {"account_id", "ticker", "bar_size", "duration"}
    assert "'5 mins'" in bars["properties"]["bar_size"]["description"]
    assert listed["get_quotes"].input_schema["properties"]["tickers"]["type"] == "array"


def test_bars_through_mcp(market: Market) -> None:
    data = payload(call(market, "get_historical_bars", account_id=ACCOUNT, ticker="aapl", bar_size="5m",
                        duration="1 day", rth_only=False, end="2025-06-27T20:00:00-04:00"))
    assert (data["ticker"], data["bar_size"], data["duration"], data["rth_only"]) == ("AAPL", "5 mins", "1 D", False)
    assert data["count"] == len(data["bars"]) == 192  # 04:00-20:00 in 5-minute bars
    first = data["bars"][0]
    assert set(first) == {"time", "open", "high", "low", "close", "volume"}
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert isinstance(first["close"], str) and Decimal(first["high"]) >= Decimal(first["low"])
    assert data["head_timestamp"] is not None


def test_bars_errors_through_mcp(market: Market) -> None:
    bad = tool_error(call(market, "get_historical_bars", account_id=ACCOUNT, ticker="AAPL", bar_size="7 min",
                          duration="forever"))
    assert bad["error_code"] == "VALIDATION_ERROR"
    fields = {p["field"] for p in bad["details"]["problems"]}
    assert fields == {"bar_size", "duration"} and "'5 mins'" in bad["message"]
    market.gateway.market_data.deny_live("MSFT")
    denied = tool_error(call(market, "get_historical_bars", account_id=ACCOUNT, ticker="MSFT", bar_size="1 day",
                             duration="1 M"))
    assert denied["error_code"] == "NO_MARKET_DATA_PERMISSION"
    nothing = tool_error(call(market, "get_historical_bars", account_id=ACCOUNT, ticker="AAPL", bar_size="1 day",
                              duration="1 M", end="1990-01-05"))
    assert nothing["error_code"] == "NO_DATA"
    market.gateway.market_data.pace_historical(0, window_seconds=20)
    paced = tool_error(call(market, "get_historical_bars", account_id=ACCOUNT, ticker="AAPL", bar_size="1 day",
                            duration="1 M"))
    assert paced["error_code"] == "PACING_VIOLATION" and 0 < paced["details"]["retry_after_seconds"] <= 20
    unsupported = tool_error(call(market, "get_historical_bars", account_id=market.snaptrade_account,
                                  ticker="AAPL", bar_size="1 day", duration="1 M"))
    assert unsupported["error_code"] == "UNSUPPORTED" and "price-history" in unsupported["message"]


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_quotes_through_mcp_one_failure_does_not_fail_the_others(market: Market) -> None:
    market.gateway.market_data.deny_live("MSFT")
    data = payload(call(market, "get_quotes", account_id=ACCOUNT, tickers=["AAPL", "MSFT", "NOPE", "SPY"]))
    assert data["count"] == 4 and data["failed"] == 1
    quotes = {q["ticker"]: q for q in data["quotes"]}
    assert quotes["AAPL"]["quote"]["market_data"] == "live" and quotes["AAPL"]["quote"]["bid_size"] == "100"
    assert quotes["MSFT"]["quote"]["market_data"] == "delayed"
    assert quotes["NOPE"]["error"]["error_code"] == "SYMBOL_NOT_FOUND" and quotes["NOPE"]["quote"] is None
    market.gateway.market_data.set_market_open(False)
    frozen = payload(call(market, "get_quotes", account_id=ACCOUNT, tickers=["AAPL"]))
    assert frozen["quotes"][0]["quote"]["market_data"] == "frozen"
    snap = payload(call(market, "get_quotes", account_id=market.snaptrade_account, tickers=["AAPL", "MSFT"]))
    assert snap["provider"] == "snaptrade" and snap["failed"] == 0
    bad = tool_error(call(market, "get_quotes", account_id=ACCOUNT, tickers=[]))
    assert bad["error_code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_pnl_through_mcp_matches_the_sum_over_positions(market: Market) -> None:
    market.buy(ACCOUNT, "AAPL", 20)
    market.buy(ACCOUNT, "MSFT", 3)
    market.gateway.market_data.start_new_day()
    market.gateway.set_price("AAPL", "189.00")
    market.gateway.set_price("MSFT", "425.00")

    def settled() -> dict[str, Any] | None:
        data = payload(call(market, "get_pnl", account_id=ACCOUNT))
        return data if Decimal(data["daily"]) == Decimal("-5") else None

    data = wait_until(settled, what="daily P&L after the moves")
    positions = {p["ticker"]: p for p in data["positions"]}
    assert Decimal(positions["AAPL"]["daily"]) == Decimal("-20") and Decimal(positions["MSFT"]["daily"]) == 15
    for name in ("daily", "unrealized", "realized"):
        assert Decimal(data[name]) == sum(Decimal(p[name]) for p in data["positions"]), name
        assert Decimal(data[name]) == Decimal(data["positions_total"][name]), name
    assert tool_error(call(market, "get_pnl", account_id=market.snaptrade_account))["error_code"] == "UNSUPPORTED"
    assert tool_error(call(market, "get_pnl", account_id="DU000"))["error_code"] == "ACCOUNT_NOT_FOUND"


@pytest.mark.parametrize("market", [NO_CACHE], indirect=True)
def test_account_summary_through_mcp_per_account_and_per_currency(market: Market) -> None:
    market.gateway.market_data.set_foreign_cash(OTHER_ACCOUNT, "CHF", "5000", "1.25")
    market.buy(ACCOUNT, "SPY", 10)
    mine = wait_until(lambda: (d := payload(call(market, "get_account_summary", account_id=ACCOUNT)))
                      ["initial_margin"] != "0.00" and d, what="margin after the fill")
    expected = market.gateway.account(ACCOUNT)
    assert Decimal(mine["net_liquidation"]) == expected.net_liquidation
    assert Decimal(mine["maintenance_margin"]) == expected.maint_margin
    assert Decimal(mine["excess_liquidity"]) == expected.excess_liquidity and mine["currency"] == "USD"
    other = wait_until(lambda: (d := payload(call(market, "get_account_summary", account_id=OTHER_ACCOUNT)))
                       and len(d["by_currency"]) == 2 and d, what="the CHF ledger")
    assert [c["currency"] for c in other["by_currency"]] == ["USD", "CHF"]
    assert Decimal(other["cash"]) == Decimal("1006250.00") and other["initial_margin"] == "0.00"
    snap = payload(call(market, "get_account_summary", account_id=market.snaptrade_account))
    assert snap["provider"] == "snaptrade" and snap["maintenance_margin"] is None


def test_option_chain_through_mcp(market: Market) -> None:
    chain = payload(call(market, "get_option_chain", account_id=ACCOUNT, underlying="SPY"))
    assert chain["expiries"] == [market.gateway.option_expiry()] and chain["contracts"] == []
    sliced = payload(call(market, "get_option_chain", account_id=ACCOUNT, underlying="SPY",
                          expiry=chain["expiries"][0]))
    assert len(sliced["contracts"]) == 10
    assert all(c["greeks"] is not None and c["greeks"]["delta"] is not None for c in sliced["contracts"])
    bad = tool_error(call(market, "get_option_chain", account_id=ACCOUNT, underlying="SPY", expiry="someday"))
    assert bad["error_code"] == "VALIDATION_ERROR"
    unsupported = tool_error(call(market, "get_option_chain", account_id=market.snaptrade_account,
                                  underlying="AAPL"))
    assert unsupported["error_code"] == "UNSUPPORTED"
