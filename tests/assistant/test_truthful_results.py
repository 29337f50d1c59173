"""Issue 15: what a model reads through a real MCP client session must be true and unambiguous.

Both simulators over real sockets (ib_async, the SnapTrade SDK), the real test database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from mcp_tools.server import build_server
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error

# settle only long after the broker timeout (the settings refuse less)
SETTLE = {"RECONCILE_SETTLE_SECONDS": 60}


def over_mcp(market: Market, scenario: Callable[[Client], Awaitable[Any]], **options: Any) -> Any:
    server, _provider = build_server(market.service.settings, market.service)

    async def main() -> Any:
        async with Client(server, **options) as client:
            return await scenario(client)

    return anyio.run(main)


def call(market: Market, tool: str, **arguments: Any) -> Any:
    return over_mcp(market, lambda client: client.call_tool(tool, arguments))


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_bare_es_is_not_silently_the_e_mini_future(market: Market) -> None:
    refused = tool_error(call(market, "preview_trade", account_id=ACCOUNT, ticker="ES", side="BUY", quantity="1"))
    assert refused["error_code"] == "SYMBOL_NOT_FOUND"
    assert "bare ticker never means a derivative" in refused["message"] and "/ES" in refused["message"]
    assert refused["details"]["derivative_ticker"] == "/ES"
    found = payload(call(market, "search_symbol", account_id=ACCOUNT, ticker="ES"))
    matches = found["matches"] if isinstance(found, dict) and "matches" in found else found
    assert [(m["ticker"], m["sec_type"]) for m in matches] == [("/ES", "FUT")]
    future = payload(call(market, "preview_trade", account_id=ACCOUNT, ticker="/ES", side="BUY", quantity="1"))
    assert future["status"] == "ACTIVE" and future["ticker"] == "/ES"
    instrument = future["instrument"]
    assert (instrument["sec_type"], instrument["multiplier"], instrument["quantity_unit"]) == ("FUT", "50", "contracts")
    assert instrument["expiry"] and instrument["local_symbol"].startswith("ES")
    assert future["summary"].startswith(f"BUY 1 contracts /ES (FUT {instrument['local_symbol']} on CME, expiry "
                                        f"{instrument['expiry']}, multiplier 50, USD) Market Day in ")
    stock = payload(call(market, "preview_trade", account_id=ACCOUNT, ticker="SPY", side="BUY", quantity="1"))
    assert stock["status"] == "ACTIVE" and stock["instrument"] is None and "contracts" not in stock["summary"]


@pytest.mark.parametrize("market", [{**SETTLE, "ORDERS_ENABLED": False}], indirect=True)
def test_orders_off_preview_says_simulated_and_a_second_execute_does_not_say_executed(market: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        preview = payload(await client.call_tool("preview_trade", {
            "account_id": market.snaptrade_account, "ticker": "AAPL", "side": "BUY", "quantity": "1"}))
        first = payload(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
        again = tool_error(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
        return preview, first, again

    preview, first, again = over_mcp(market, scenario)
    assert any("SIMULATED" in w for w in preview["warnings"])
    assert "SIMULATED ONLY" in preview["summary"] and "sends nothing to the broker" in preview["summary"]
    assert first["status"] == "SIMULATED"
    assert again["error_code"] == "ALREADY_EXECUTED"
    assert "executed" not in again["message"].lower()
    assert f"order_id {first['order_id']}, status SIMULATED" in again["message"]
    assert "nothing was sent to the broker" in again["message"] and "additional order" in again["message"]


@pytest.mark.parametrize("market", [{**SETTLE, "MAX_POSITION_WEIGHT": None, "PRICE_BAND_PCT": None}], indirect=True)
def test_preview_numbers_agree_and_name_their_units(market: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        limit = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "10", "order_type": "Limit",
            "limit_price": "185", "time_in_force": "GTC"}))
        sell = payload(await client.call_tool("preview_trade", {
            "account_id": market.snaptrade_account, "ticker": "AAPL", "side": "SELL", "quantity": "1"}))
        return limit, sell

    limit, sell = over_mcp(market, scenario)
    assert limit["market_data"]["last"] != "185"  # the quote differs from the limit ...
    assert (limit["estimated_price"], limit["estimated_price_basis"]) == ("185", "limit")  # ... the total's price wins
    total = Decimal(limit["estimated_price"]) * 10 + Decimal(limit["estimated_commission"])
    assert Decimal(limit["estimated_total"]) == Decimal(limit["estimated_cost"]) == total
    assert limit["estimated_proceeds"] is None and limit["currency"] == "USD"
    assert Decimal(limit["post_trade_weight_percent"]) == Decimal(limit["post_trade_weight"]) * 100
    assert "position_weight" not in limit["validation"]["checks_passed"]  # MAX_POSITION_WEIGHT not configured
    assert "price_band" not in limit["validation"]["checks_passed"]
    assert "position_held" not in limit["validation"]["checks_passed"]  # a BUY sells nothing
    assert {"buying_power", "max_notional"} <= set(limit["validation"]["checks_passed"])
    assert sell["estimated_price_basis"] == "quote" and sell["estimated_cost"] is None
    assert Decimal(sell["estimated_proceeds"]) == Decimal(sell["estimated_total"]) > 0
    assert "position_held" in sell["validation"]["checks_passed"]
    assert "buying_power" not in sell["validation"]["checks_passed"]


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_summary_and_prompt_name_the_account_as_the_human_knows_it(market: Market) -> None:
    asked: list[str] = []

    async def human(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    async def scenario(client: Client) -> tuple[Any, ...]:
        paper = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "2"}))
        await client.call_tool("execute_trade", {"preview_id": paper["preview_id"]})
        live = payload(await client.call_tool("preview_trade", {
            "account_id": market.snaptrade_account, "ticker": "AAPL", "side": "SELL", "quantity": "1"}))
        accounts = payload(await client.call_tool("list_tradeable_accounts", {}))
        return paper, live, accounts

    paper, live, accounts = over_mcp(market, scenario, elicitation_callback=human)
    assert "in IBKR DU1234567 (PAPER, ****4567): est. cost USD " in paper["summary"]
    assert asked and paper["summary"] in asked[0] and "(PAPER, ****4567)" in asked[0]
    listed = accounts["accounts"] if isinstance(accounts, dict) else accounts
    mine = next(a for a in listed if a["account_id"] == market.snaptrade_account)
    assert f"****{mine['number'][-4:]})" in live["summary"] and "(LIVE, " in live["summary"]
    assert market.snaptrade_account not in live["summary"]
    assert f": est. proceeds USD {Decimal(live['estimated_proceeds']):,.2f}" in live["summary"]


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_order_results_carry_their_terms_a_cancel_says_cancelled_and_reads_say_when(market: Market) -> None:
    async def human(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    async def scenario(client: Client) -> tuple[Any, ...]:
        preview = payload(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "3", "order_type": "Limit",
            "limit_price": "150", "time_in_force": "GTC"}))  # far under the market: it rests
        placed = payload(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
        status = payload(await client.call_tool("get_order_status", {"order_id": placed["order_id"]}))
        cancel = payload(await client.call_tool("cancel_order", {"order_id": placed["order_id"]}))
        reads = [payload(await client.call_tool(name, {"account_id": ACCOUNT, **extra})) for name, extra in (
            ("get_quote", {"ticker": "AAPL"}), ("get_account_balance", {}), ("get_positions", {}))]
        return status, cancel, reads

    status, cancel, reads = over_mcp(market, scenario, elicitation_callback=human)
    terms = ("order_type", "limit_price", "stop_price", "time_in_force", "currency", "ticker", "side", "quantity")
    assert {k: status[k] for k in terms} == {
        "order_type": "Limit", "limit_price": "150", "stop_price": None, "time_in_force": "GTC", "currency": "USD",
        "ticker": "AAPL", "side": "BUY", "quantity": "3"}
    assert cancel["status"] == "CANCELED" and "cancelled" in cancel["message"]
    assert "sent to" not in cancel["message"]
    for read in reads:
        assert datetime.fromisoformat(read["as_of"]).utcoffset() is not None


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_accounts_say_whether_they_take_fractions_and_ibkr_names_the_whole_quantity(market: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        accounts = payload(await client.call_tool("list_tradeable_accounts", {}))
        fraction = tool_error(await client.call_tool("preview_trade", {
            "account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "2.5"}))
        return accounts, fraction

    accounts, fraction = over_mcp(market, scenario)
    flags = {a["account_id"]: a["fractional_shares"] for a in accounts["accounts"]}
    assert flags[ACCOUNT] is False and flags[market.snaptrade_account] is True
    assert fraction["error_code"] == "UNSUPPORTED_ORDER"
    assert fraction["message"].startswith("IBKR accepts whole quantities only")  # the broker as people name it
    assert "use a whole quantity such as 2" in fraction["message"] and fraction["details"]["whole_quantity"] == 2


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_a_null_balance_figure_says_why(market: Market) -> None:
    balance = payload(call(market, "get_account_balance", account_id=market.snaptrade_account))
    nulls = [k for k in ("cash", "buying_power", "net_liquidation", "available_funds") if balance[k] is None]
    assert "available_funds" in nulls and set(balance["null_fields"]) == set(nulls)
    assert all("does not report" in why for why in balance["null_fields"].values())
    full = payload(call(market, "get_account_balance", account_id=ACCOUNT))
    assert full["null_fields"] == {} and full["available_funds"] is not None
