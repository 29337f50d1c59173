"""Issue 16, instruments: a non-US listing (VOD on LSE in GBP), validation errors named by preview_trade's own
arguments, and what SnapTrade's API does not offer refused before anything is stored. Real MCP client
sessions, real ib_async and the SnapTrade SDK against the simulators."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mcp import Client
from sqlalchemy.orm import Session, sessionmaker

from tests.assistant.test_truthful_results import over_mcp
from tests.ibkr.conftest import wait_until
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, row_counts, tool_error


def test_vod_on_lse_is_previewed_in_gbp_and_a_usd_mismatch_is_refused(small: Market) -> None:
    small.gateway.market_data.set_foreign_cash(ACCOUNT, "GBP", "1000", "1.27")  # a GBP ledger: its ExchangeRate
    wait_until(lambda: small.service.get_account_balance(ACCOUNT).exchange_rates.get("GBP") == Decimal("1.27"),
               what="the GBP exchange rate")

    async def scenario(client: Client) -> tuple[Any, ...]:
        gbp = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "VOD", "exchange": "LSE", "side": "BUY", "quantity": "100"}))
        usd = tool_error(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "VOD", "exchange": "LSE", "currency": "USD", "side": "BUY",
            "quantity": "100"}))
        bare = tool_error(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "VOD", "side": "BUY", "quantity": "100"}))
        order = payload(await client.call_tool("execute_trade", {"preview_id": gbp["preview_id"]}))
        found = payload(await client.call_tool("search_symbol", {"account_id": ACCOUNT, "ticker": "VOD"}))
        return gbp, usd, bare, order, found

    gbp, usd, bare, order, found = over_mcp(small, scenario)
    # search_symbol finds the listing a bare ticker does not trade: its exchange and currency to pass
    assert [(m["ticker"], m["exchange"], m["currency"]) for m in found["matches"]] == [("VOD", "LSE", "GBP")]
    assert gbp["currency"] == "GBP" and gbp["commission_currency"] == "GBP"
    assert (gbp["instrument"]["exchange"], gbp["instrument"]["currency"]) == ("LSE", "GBP")
    assert gbp["instrument"]["quantity_unit"] == "shares"
    assert "BUY 100 VOD (STK VOD on LSE, GBP) Market Day" in gbp["summary"]
    assert f"est. cost GBP {Decimal(gbp['estimated_total']):,.2f}" in gbp["summary"]
    # priced in GBP; funded in the account's USD base through the what-if's initial margin
    assert "initial_margin" in gbp["validation"]["checks_passed"] and gbp["margin"]["currency"] == "USD"
    assert any("priced in GBP and the account reports in USD" in w for w in gbp["warnings"])
    assert gbp["conversion"]["exchange_rate"] == "1.27" and gbp["conversion"]["account_currency"] == "USD"
    for refused in (usd, bare):
        assert refused["error_code"] == "VALIDATION_ERROR"
        [problem] = refused["details"]["problems"]
        assert problem["field"] == "currency" and "listed on LSE in GBP" in problem["problem"]
        assert (refused["details"]["listing_exchange"], refused["details"]["listing_currency"]) == ("LSE", "GBP")
    assert "not USD" in usd["message"]
    assert order["status"] == "EXECUTED" and order["currency"] == "GBP" and order["instrument"]["exchange"] == "LSE"


def _problems(result: Any) -> list[tuple[str, str]]:
    error = tool_error(result)
    assert error["error_code"] == "VALIDATION_ERROR"
    return [(p["field"], p["problem"]) for p in error["details"]["problems"]]


def test_validation_errors_name_preview_trades_own_arguments(
    small: Market, session_factory: sessionmaker[Session]
) -> None:
    before = row_counts(session_factory)
    base = {"account_id": ACCOUNT, "side": "BUY", "quantity": "1"}
    calls = [
        {"ticker": "ES", "sec_type": "FUT", "strike": "5000"},
        {"ticker": "SPY", "sec_type": "OPT", "expiry": "20261218", "strike": "600"},
        {"ticker": "SPX", "sec_type": "IND"},
        {"ticker": "AAPL", "expiry": "202612"},
        {"ticker": "/ES", "sec_type": "OPT", "expiry": "20261218", "strike": "5000", "right": "C"},
        {"ticker": "MES", "sec_type": "FUT", "expiry": "2026-12", "currency": "pounds"},
        {"ticker": "SPY", "sec_type": "OPT", "expiry": "20261218", "strike": "600", "right": "X"},
    ]

    async def scenario(client: Client) -> list[Any]:
        return [await client.call_tool("preview_trade", {**base, **extra}) for extra in calls]

    results = [_problems(r) for r in over_mcp(small, scenario)]
    assert [field for field, _ in results[0]] == ["strike"] and "not allowed for sec_type FUT" in results[0][0][1]
    assert [field for field, _ in results[1]] == ["right"] and "required for sec_type OPT" in results[1][0][1]
    assert [field for field, _ in results[2]] == ["sec_type"] and "quotes only" in results[2][0][1]
    assert [field for field, _ in results[3]] == ["expiry"] and "not allowed for sec_type STK" in results[3][0][1]
    assert ("sec_type" in [field for field, _ in results[4]]) and "names a FUT" in results[4][0][1]
    assert sorted(field for field, _ in results[5]) == ["currency", "expiry"]
    assert "YYYYMM" in dict(results[5])["expiry"] and "3-letter" in dict(results[5])["currency"]
    assert [field for field, _ in results[6]] == ["right"]
    assert row_counts(session_factory)[:2] == before[:2]  # no preview, no order stored


def test_snaptrade_refuses_futures_options_and_listing_choice_before_storing(
    small: Market, session_factory: sessionmaker[Session]
) -> None:
    before = row_counts(session_factory)
    account = small.snaptrade_account
    calls = [
        {"ticker": "/ES"},
        {"ticker": "SPY", "sec_type": "OPT", "expiry": "20261218", "strike": "600", "right": "C"},
        {"ticker": "VOD", "exchange": "LSE", "currency": "GBP"},
    ]

    async def scenario(client: Client) -> list[Any]:
        return [tool_error(await client.call_tool("preview_trade", {
            "account_id": account, "side": "BUY", "quantity": "1", **extra})) for extra in calls]

    futures, options, listing = over_mcp(small, scenario)
    assert {e["error_code"] for e in (futures, options, listing)} == {"UNSUPPORTED_ORDER"}
    assert "sec_type FUT" in futures["message"] and "sec_type OPT" in options["message"]
    assert listing["details"]["fields"] == ["exchange", "currency"]
    assert row_counts(session_factory)[:2] == before[:2]
