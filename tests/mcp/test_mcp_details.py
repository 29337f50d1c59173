"""Issue 18, MCP details: output schemas that match the results, honest hints, closed input schemas that
accept decimal strings, and the trading-discipline prompt; through a real MCP client session."""

from __future__ import annotations

from typing import Any

import jsonschema
from mcp import Client

from tests.mcp.conftest import ServerFactory, payload
from tests.mcp.test_tools import TOOLS, call, preview, run

READS = {"list_tradeable_accounts", "search_symbol", "get_quote", "get_account_balance", "get_positions",
         "get_orders", "get_order_status", "get_orders_status", "get_historical_bars", "get_quotes", "get_pnl",
         "get_account_summary", "get_option_chain"}
TRADE_TOOLS = {"list_tradeable_accounts", "search_symbol", "get_quote", "get_account_balance", "get_positions",
               "preview_trade", "execute_trade", "get_orders", "get_order_status", "cancel_order", "cancel_orders",
               "get_orders_status"}


def test_every_tool_declares_its_output_schema_hints_and_closed_inputs(make_server: ServerFactory) -> None:
    tools = {t.name: t for t in run(make_server(), lambda c: c.list_tools()).tools}
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        hints = tool.annotations
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
        assert tool.input_schema["additionalProperties"] is False, name
        assert hints is not None and hints.read_only_hint == (name in READS), name
        assert hints.destructive_hint == (name in {"execute_trade", "cancel_order", "cancel_orders",
                                                   "execute_trades", "execute_modification"}), name
        assert hints.idempotent_hint == (name in READS), name  # a second cancel is an error: not idempotent
    order = tools["preview_trade"].input_schema
    for accepted in ({"quantity": "2.5"}, {"quantity": 2.5}, {"quantity": "3", "limit_price": "185.25"}):
        jsonschema.validate({"account_id": "DU111", "ticker": "AAPL", "side": "BUY", **accepted}, order)
    for refused in ({"quantity": "2.5", "qty": 1}, {"quantity": "lots"}):
        try:
            jsonschema.validate({"account_id": "DU111", "ticker": "AAPL", "side": "BUY", **refused}, order)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"the published schema accepts {refused}")


def test_every_result_matches_the_published_output_schema(make_server: ServerFactory) -> None:
    async def scenario(client: Client) -> list[tuple[str, Any]]:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        results = [(name, await call(client, name, **arguments)) for name, arguments in [
            ("list_tradeable_accounts", {}), ("search_symbol", {"account_id": "DU111", "ticker": "AAPL"}),
            ("get_quote", {"account_id": "DU111", "ticker": "AAPL"}),
            ("get_account_balance", {"account_id": "DU111"}), ("get_positions", {"account_id": "DU111"}),
        ]]
        shown = await preview(client, order_type="Limit", limit_price="180.5", time_in_force="GTC")
        executed = await call(client, "execute_trade", preview_id=shown["preview_id"])
        placed = payload(executed)
        results += [
            ("execute_trade", executed),
            ("preview_trade", await call(client, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY",
                                         quantity="2")),
            ("get_orders", await call(client, "get_orders", account_id="DU111", state="open")),
            ("get_order_status", await call(client, "get_order_status", order_id=placed["order_id"])),
            ("get_orders_status", await call(client, "get_orders_status",
                                             order_ids=[placed["order_id"], "1b4e28ba-2fa1-11d2-883f-0016d3cca427"])),
            ("cancel_order", await call(client, "cancel_order", order_id=placed["order_id"])),
            ("cancel_orders", await call(client, "cancel_orders", account_id="DU111")),
        ]
        return [(name, (schemas[name], result)) for name, result in results]

    checked = run(make_server(), scenario)
    for name, (schema, result) in checked:
        assert not result.is_error, (name, result.content)
        jsonschema.validate(payload(result), schema)
    assert {name for name, _ in checked} == TRADE_TOOLS


def test_the_prompt_carries_the_trading_discipline(make_server: ServerFactory) -> None:
    async def scenario(client: Client) -> tuple[Any, Any]:
        listed = await client.list_prompts()
        return listed, await client.get_prompt("trade_with_confirmation", {"request": "buy 5 Apple"})

    listed, prompt = run(make_server(), scenario)
    assert "trade_with_confirmation" in {p.name for p in listed.prompts}
    text = prompt.messages[0].content.text
    for rule in ("preview_trade", "explicit yes", "Never invent", "execute_trade", "buy 5 Apple"):
        assert rule in text, rule
