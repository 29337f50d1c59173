"""get_quote takes preview_trade's instrument arguments (issue 16): a non-US listing and derivatives are quoted
as they would be traded. Real MCP client sessions, real ib_async and the SnapTrade SDK against the simulators.
VOD trades on LSE in GBP at 72.00."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mcp import Client

from tests.assistant.test_truthful_results import over_mcp
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error


def test_vod_on_lse_in_gbp_is_quoted_and_the_bare_ticker_is_not_silently_another_listing(small: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        vod = await client.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": "VOD", "exchange": "LSE",
                                                   "currency": "GBP"})
        usd = await client.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": "VOD", "exchange": "LSE",
                                                   "currency": "USD"})
        aapl = await client.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": "AAPL"})
        return payload(vod), tool_error(usd), payload(aapl)

    vod, usd, aapl = over_mcp(small, scenario)
    assert vod["ticker"] == "VOD" and vod["currency"] == "GBP" and Decimal(vod["last"]) == Decimal("72.00")
    assert Decimal(vod["reference_price"]) > 0
    assert usd["error_code"] == "VALIDATION_ERROR" and "listed on LSE in GBP" in usd["message"]
    assert aapl["currency"] == "USD" and Decimal(aapl["last"]) == Decimal("190.00")  # a bare ticker, as before


def test_an_option_and_a_future_month_are_quoted_by_their_fields(small: Market) -> None:
    expiry = small.gateway.option_expiry()

    async def scenario(client: Client) -> tuple[Any, ...]:
        option = await client.call_tool("get_quote", {
            "account_id": ACCOUNT, "ticker": "SPY", "sec_type": "OPT", "expiry": expiry, "strike": "510",
            "right": "CALL"})
        occ = await client.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": f"SPY   {expiry[2:]}C00510000"})
        future = await client.call_tool("get_quote", {"account_id": ACCOUNT, "ticker": "MES", "sec_type": "FUT"})
        return payload(option), payload(occ), payload(future)

    option, occ, future = over_mcp(small, scenario)
    assert option["last"] is not None and option["bid"] == occ["bid"] and option["ask"] == occ["ask"]
    assert future["last"] is not None and Decimal(future["last"]) > 1000


def test_instrument_arguments_are_checked_as_preview_trade_checks_them(small: Market) -> None:
    async def scenario(client: Client) -> list[Any]:
        calls = [
            {"ticker": "ES", "sec_type": "FUT", "strike": "5000"},
            {"ticker": "SPY", "sec_type": "OPT", "expiry": "20261218", "strike": "600"},
            {"ticker": "VOD", "currency": "pounds"},
            {"ticker": "VOD", "exchange": "LSE", "account_id": small.snaptrade_account},
        ]
        return [tool_error(await client.call_tool("get_quote", {"account_id": ACCOUNT, **extra}))
                for extra in calls]

    strike, right, currency, snaptrade = over_mcp(small, scenario)
    for error, field in ((strike, "strike"), (right, "right"), (currency, "currency")):
        assert error["error_code"] == "VALIDATION_ERROR"
        assert [p["field"] for p in error["details"]["problems"]] == [field]
    assert "not allowed for sec_type FUT" in strike["details"]["problems"][0]["problem"]
    assert snaptrade["error_code"] == "UNSUPPORTED_ORDER" and "exchange" in snaptrade["message"]
