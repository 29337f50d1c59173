"""The ten tools through a real MCP client, in process, over the in-memory brokers and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import BrokerProvider
from brokers.records import BrokerAccount
from db.models import TradeEvent, TradeOrder, TradePreview
from mcp_tools import register_tools
from services.order_store import utcnow
from services.trade_execution import TradeExecutionService
from tests.mcp.conftest import ServerFactory, make_settings, payload, row_counts, tool_error
from tests.support.memory_broker import MemoryBroker

TOOLS = {
    "list_tradeable_accounts", "search_symbol", "get_quote", "get_account_balance", "get_positions",
    "preview_trade", "execute_trade", "get_orders", "get_order_status", "cancel_order", "cancel_orders",
    "get_orders_status", "execute_trades", "preview_modification", "execute_modification",
    "get_historical_bars", "get_quotes", "get_pnl", "get_account_summary", "get_option_chain",
}
MODES = ["legacy", "auto"]  # handshake-era and 2026-07-28 connections


def run(server: MCPServer[Any], scenario: Callable[[Client], Awaitable[Any]], mode: str = "legacy",
        **client_options: Any) -> Any:
    async def main() -> Any:
        async with Client(server, mode=mode, **client_options) as client:
            return await scenario(client)

    return anyio.run(main)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    return await client.call_tool(tool, arguments)


async def preview(client: Client, **overrides: Any) -> dict[str, Any]:
    arguments = {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 3, **overrides}
    result = await client.call_tool("preview_trade", arguments)
    assert not result.is_error, result.content
    return payload(result)


def test_tools_list_is_exactly_the_contract_with_enums_and_guidance(make_server: ServerFactory) -> None:
    tools = {t.name: t for t in run(make_server(), lambda c: c.list_tools()).tools}
    assert set(tools) == TOOLS
    props = tools["preview_trade"].input_schema["properties"]
    # quantity or notional (a cash amount), exactly one: the parse says so when neither or both are given
    assert tools["preview_trade"].input_schema["required"] == ["account_id", "ticker", "side"]
    assert {"quantity", "notional", "user_email"} <= set(props)
    assert props["side"]["enum"] == ["BUY", "SELL"]
    assert props["order_type"]["enum"] == ["Market", "Limit", "Stop", "StopLimit", "TrailingStop",
                                           "TrailingStopLimit", "MarketOnClose", "MarketOnOpen"]
    assert {"trailing_amount", "trailing_percent", "trail_stop_price", "limit_offset", "outside_rth"} <= set(props)
    assert props["order_type"]["default"] == "Market"
    assert props["time_in_force"]["enum"] == ["Day", "GTC", "IOC", "FOK"]
    assert "unexpected_arguments" not in props
    assert all(p.get("description") for p in props.values())
    orders = tools["get_orders"].input_schema
    assert orders["properties"]["state"]["enum"] == ["all", "open", "executed", "cancelled"]
    assert orders.get("required", []) == []
    assert "explicit yes" in tools["preview_trade"].description
    assert "ONLY after the human" in tools["execute_trade"].description
    assert "SIMULATED" in tools["execute_trade"].description.upper()
    assert tools["execute_trade"].annotations.destructive_hint is True
    assert tools["get_quote"].annotations.read_only_hint is True


@pytest.mark.parametrize("mode", MODES)
def test_read_tools_answer_json(make_server: ServerFactory, mode: str) -> None:
    async def scenario(client: Client) -> None:
        accounts = payload(await call(client, "list_tradeable_accounts"))
        assert {a["account_id"] for a in accounts["accounts"]} == {"DU111", "st-acct-1"}
        assert accounts["orders_enabled"] is True and accounts["trading_mode"] == "paper"
        found = payload(await call(client, "search_symbol", account_id="DU111", ticker="aap"))
        assert found["ticker"] == "AAP" and found["matches"][0]["ticker"] == "AAPL"
        quote = payload(await call(client, "get_quote", account_id="st-acct-1", ticker="msft"))
        assert quote["ticker"] == "MSFT" and quote["reference_price"] == "410.00"
        balance = payload(await call(client, "get_account_balance", account_id="DU111"))
        assert Decimal(balance["cash"]) == Decimal("100000")
        positions = payload(await call(client, "get_positions", account_id="DU111"))
        assert positions["positions"][0]["ticker"] == "AAPL" and positions["count"] == 1
        missing = tool_error(await call(client, "get_quote", account_id="NOPE1", ticker="AAPL"))
        assert missing["error_code"] == ErrorCode.ACCOUNT_NOT_FOUND

    run(make_server(), scenario, mode)


@pytest.mark.parametrize("mode", MODES)
def test_preview_execute_status_orders_cancel(make_server: ServerFactory, ibkr: MemoryBroker, mode: str) -> None:
    async def scenario(client: Client) -> None:
        shown = await preview(client)
        assert shown["status"] == "ACTIVE" and "BUY 3 AAPL Market Day" in shown["summary"]
        assert "explicitly confirm" in shown["next_step"]
        order = payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))
        assert order["status"] == "EXECUTED" and order["placed"] is True and order["simulated"] is False
        status = payload(await call(client, "get_order_status", order_id=order["order_id"]))
        assert status["status"] == "EXECUTED" and Decimal(status["filled_quantity"]) == 3
        listed = payload(await call(client, "get_orders", account_id="DU111", state="executed", days=1))
        assert [o["order_id"] for o in listed["orders"]] == [order["order_id"]]
        final = tool_error(await call(client, "cancel_order", order_id=order["order_id"]))
        assert final["error_code"] == ErrorCode.ORDER_NOT_CANCELABLE

        limit = await preview(client, order_type="limit", limit_price="180.5", time_in_force="GTC")
        working = payload(await call(client, "execute_trade", preview_id=limit["preview_id"]))
        assert working["status"] == "ACCEPTED"
        open_orders = payload(await call(client, "get_orders", account_id="DU111", state="open"))
        assert working["order_id"] in {o["order_id"] for o in open_orders["orders"]}
        canceled = payload(await call(client, "cancel_order", order_id=working["order_id"]))
        assert canceled["status"] == "CANCELED"

    run(make_server(), scenario, mode)
    assert ibkr.place_calls == 2


@pytest.mark.parametrize("mode", MODES)
def test_duplicate_execute_places_once(make_server: ServerFactory, ibkr: MemoryBroker, mode: str) -> None:
    async def scenario(client: Client) -> list[Any]:
        shown = await preview(client)
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def execute() -> None:
                results.append(await call(client, "execute_trade", preview_id=shown["preview_id"]))

            for _ in range(3):
                tg.start_soon(execute)
        results.append(await call(client, "execute_trade", preview_id=shown["preview_id"]))
        return results

    results = run(make_server(), scenario, mode)
    placed = [r for r in results if not r.is_error]
    refused = [tool_error(r) for r in results if r.is_error]
    assert len(placed) == 1 and len(refused) == 3
    assert {e["error_code"] for e in refused} == {ErrorCode.ALREADY_EXECUTED}
    assert ibkr.place_calls == 1


def test_expired_preview_is_refused(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    server = make_server()
    shown = run(server, preview)
    with session_factory.begin() as session:
        session.execute(update(TradePreview).values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = payload(run(server, lambda c: call(c, "execute_trade", preview_id=shown["preview_id"])))
    assert answer["error_code"] == ErrorCode.PREVIEW_EXPIRED and answer["placed"] is False
    assert answer["order_id"] is None and answer["new_preview"]["preview_id"] != shown["preview_id"]
    assert "prices may have changed" in answer["message"].lower()
    assert ibkr.place_calls == 0


def test_orders_disabled_gives_a_clearly_simulated_result(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    async def scenario(client: Client) -> dict[str, Any]:
        shown = await preview(client)
        assert shown["orders_enabled"] is False
        return payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))

    order = run(make_server(ORDERS_ENABLED=False), scenario)
    assert order["status"] == "SIMULATED" and order["simulated"] is True and order["placed"] is False
    assert order["message"].startswith("SIMULATED") and "NOT sent" in order["message"]
    assert ibkr.place_calls == 0


def test_refused_order_is_a_risk_limit_error(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    result = run(make_server(MAX_ORDER_NOTIONAL="1000"), lambda c: call(
        c, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY", quantity=100))
    assert tool_error(result)["error_code"] == ErrorCode.RISK_LIMIT
    assert ibkr.place_calls == 0


def test_an_order_type_the_broker_does_not_offer_is_unsupported(make_server: ServerFactory,
                                                                 ibkr: MemoryBroker) -> None:
    result = run(make_server(), lambda c: call(
        c, "preview_trade", account_id="DU111", ticker="AAPL", side="SELL", quantity=1, order_type="TrailingStop",
        trailing_percent="2.5"))  # valid terms; the in-memory broker offers the basic order types only
    assert tool_error(result)["error_code"] == ErrorCode.UNSUPPORTED_ORDER
    extended = run(make_server(), lambda c: call(
        c, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY", quantity=1, outside_rth=True))
    assert tool_error(extended)["error_code"] == ErrorCode.UNSUPPORTED_ORDER  # never silently dropped
    grouped = run(make_server(), lambda c: call(
        c, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY", quantity=1, oca_group="g1"))
    assert tool_error(grouped)["error_code"] == ErrorCode.UNSUPPORTED_ORDER
    assert ibkr.place_calls == 0


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "HOLD", "quantity": 1}, "side"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": "lots"}, "quantity"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": -5}, "quantity"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": True}, "quantity"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 1,
                       "order_type": "Trailing"}, "order_type"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 1,
                       "order_type": "Limit"}, "limit_price"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 1,
                       "time_in_force": "forever"}, "time_in_force"),
    ("preview_trade", {"account_id": 42, "ticker": "AAPL", "side": "BUY", "quantity": 1}, "account_id"),
    ("preview_trade", {"ticker": "AAPL", "side": "BUY", "quantity": 1}, "account_id"),
    ("preview_trade", {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 1, "qty": 2}, "qty"),
    ("preview_trade", {"account_id": "DU111", "ticker": ["AAPL"], "side": "BUY", "quantity": 1}, "ticker"),
    ("execute_trade", {}, "preview_id"),
    ("execute_trade", {"preview_id": "not-a-uuid"}, "preview_id"),
    ("execute_trade", {"preview_id": 7}, "preview_id"),
    ("get_orders", {"state": "pending"}, "state"),
    ("get_orders", {"days": 0}, "days"),
    ("get_orders", {"days": "thirty"}, "days"),
    ("get_order_status", {"order_id": "123"}, "order_id"),
    ("cancel_order", {}, "order_id"),
    ("get_quote", {"account_id": "DU111"}, "ticker"),
    ("search_symbol", {"account_id": "DU111", "ticker": ""}, "ticker"),
    ("list_tradeable_accounts", {"verbose": True}, "verbose"),
]


@pytest.mark.parametrize(("tool", "arguments", "field"), BAD_ARGUMENTS)
def test_bad_arguments_are_validation_errors_and_write_nothing(
    make_server: ServerFactory, session_factory: sessionmaker[Session], ibkr: MemoryBroker,
    tool: str, arguments: dict[str, Any], field: str,
) -> None:
    before = row_counts(session_factory)
    error = tool_error(run(make_server(), lambda c: c.call_tool(tool, arguments)))
    assert error["error_code"] == ErrorCode.VALIDATION_ERROR
    assert field in json.dumps(error)
    assert row_counts(session_factory) == before
    assert ibkr.place_calls == 0


def test_several_problems_are_reported_together(make_server: ServerFactory) -> None:
    result = run(make_server(), lambda c: call(c, "preview_trade", ticker="AAPL", side="HOLD", quantity=0, foo=1))
    problems = {p["field"] for p in tool_error(result)["details"]["problems"]}
    assert problems == {"foo", "account_id", "side", "quantity"}


def test_unexpected_failures_and_secrets_never_reach_the_client(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    secret = "sk-super-secret-consumer-key-123"

    def leaky_quote(account_id: str, ticker: str) -> Any:
        raise TradeError(ErrorCode.BROKER_ERROR, f"broker said: bad key {secret}", {"key": secret})

    def crashing_balance(account_id: str) -> Any:
        raise RuntimeError(f"driver exploded with {secret}")

    ibkr.get_quote = leaky_quote  # type: ignore[method-assign]
    ibkr.get_account_balance = crashing_balance  # type: ignore[method-assign]
    server = make_server(SNAPTRADE_CONSUMER_KEY=secret)

    async def scenario(client: Client) -> list[Any]:
        return [await call(client, "get_quote", account_id="DU111", ticker="AAPL"),
                await call(client, "get_account_balance", account_id="DU111")]

    quote, balance = run(server, scenario)
    assert tool_error(quote)["error_code"] == ErrorCode.BROKER_ERROR
    assert tool_error(balance)["error_code"] == ErrorCode.INTERNAL_ERROR
    for result in (quote, balance):
        text = result.content[0].text
        assert secret not in text and "Traceback" not in text and "RuntimeError" not in text


def test_blocking_service_calls_run_off_the_event_loop(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    """A service call blocked on the broker does not block other calls: they finish while it still waits."""
    original = ibkr.get_positions
    others_done = threading.Event()
    released_by_others: list[bool] = []

    def blocked_positions(account_id: str) -> Any:
        released_by_others.append(others_done.wait(timeout=30))
        return original(account_id)

    ibkr.get_positions = blocked_positions  # type: ignore[method-assign]

    async def scenario(client: Client) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "get_positions", {"account_id": "DU111"})
            await client.list_tools()
            await call(client, "list_tradeable_accounts")
            others_done.set()

    run(make_server(), scenario, "auto")
    assert released_by_others == [True]  # a blocked loop would have left it waiting for the timeout


def test_register_tools_mounts_on_an_existing_platform_server(
    session_factory: sessionmaker[Session], ibkr: MemoryBroker
) -> None:
    platform: MCPServer[Any] = MCPServer("platform")

    @platform.tool()
    def portfolio_summary() -> str:
        """The platform's own tool keeps working next to the trade tools."""
        return "ok"

    service = TradeExecutionService(make_settings(), session_factory, [ibkr])
    register_tools(platform, service)

    async def scenario(client: Client) -> None:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == TOOLS | {"portfolio_summary"}
        assert (await call(client, "portfolio_summary")).content[0].text == "ok"
        shown = await preview(client)
        assert payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))["status"] == "EXECUTED"

    run(platform, scenario)


def test_order_rows_match_what_the_tools_said(
    make_server: ServerFactory, session_factory: sessionmaker[Session]
) -> None:
    async def scenario(client: Client) -> dict[str, Any]:
        shown = await preview(client, account_id="st-acct-1", ticker="MSFT", side="SELL", quantity="2")
        return payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))

    order = run(make_server(), scenario)
    with session_factory() as session:
        row = session.get(TradeOrder, uuid.UUID(order["order_id"]))
        assert row is not None and row.broker_provider == "snaptrade" and row.status == order["status"]
        trail = session.execute(select(TradeEvent.event_type).where(TradeEvent.order_id == row.id)).scalars().all()
        assert "ORDER_SUBMITTED" in trail


def test_one_validation_error_lists_every_order_problem_by_argument_name(
    make_server: ServerFactory, session_factory: sessionmaker[Session]
) -> None:
    async def scenario(client: Client) -> list[Any]:
        return [
            await call(client, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY",
                       quantity="1.123456789", order_type="Limit"),
            await call(client, "preview_trade", account_id="DU 111", ticker="AA$", side="BUY", quantity=1,
                       order_type="Market", stop_price=5),
            await call(client, "get_order_status", order_id=" " + str(uuid.uuid4())),
            await call(client, "search_symbol", account_id="DU111", ticker="AA$"),
        ]

    before = row_counts(session_factory)
    decimals, mixed, padded, pattern = (tool_error(r) for r in run(make_server(), scenario))
    assert {p["field"] for p in decimals["details"]["problems"]} == {"quantity", "limit_price"}
    assert {p["field"] for p in mixed["details"]["problems"]} == {"account_id", "ticker", "stop_price"}
    assert [p["field"] for p in padded["details"]["problems"]] == ["order_id"]
    assert "malformed" in padded["message"]
    assert [p["field"] for p in pattern["details"]["problems"]] == ["ticker"]
    assert "order" not in pattern["message"].lower()
    assert row_counts(session_factory) == before


def test_errors_say_how_to_fix_the_call(make_server: ServerFactory) -> None:
    async def scenario(client: Client) -> list[Any]:
        return [
            await call(client, "get_positions", account_id="Individual"),
            await call(client, "preview_trade", account_id="DU111", ticker="ZZZZ", side="BUY", quantity=1),
            await call(client, "execute_trade", preview_id=str(uuid.uuid4())),
            await call(client, "get_order_status", order_id=str(uuid.uuid4())),
        ]

    account, symbol, preview_missing, order_missing = (tool_error(r) for r in run(make_server(), scenario))
    assert account["error_code"] == ErrorCode.ACCOUNT_NOT_FOUND and "list_tradeable_accounts" in account["message"]
    assert symbol["error_code"] == ErrorCode.SYMBOL_NOT_FOUND and "search_symbol" in symbol["message"]
    assert preview_missing["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert "unknown" in preview_missing["message"] and "preview_trade" in preview_missing["message"]
    assert order_missing["error_code"] == ErrorCode.ORDER_NOT_FOUND and "get_orders" in order_missing["message"]


def test_a_name_for_an_account_id_and_a_near_ticker_get_suggestions(
    make_server: ServerFactory, ibkr: MemoryBroker
) -> None:
    ibkr.prices["AAPLX"] = Decimal("10")  # a second symbol starting with the mistyped one
    named = BrokerAccount(account_id="DU111", provider=BrokerProvider.IBKR, name="Individual", number="DU0001111",
                          is_paper=True)
    ibkr.list_accounts = lambda: [named]  # type: ignore[method-assign]

    async def scenario(client: Client) -> list[Any]:
        return [await call(client, "get_positions", account_id="Individual"),
                await call(client, "get_account_balance", account_id="1111")]

    for result in run(make_server(), scenario):
        error = tool_error(result)
        assert error["error_code"] == ErrorCode.ACCOUNT_NOT_FOUND and "'DU111'" in error["message"]
        assert error["details"]["did_you_mean"][0]["account_id"] == "DU111"
        assert "?." not in error["message"] and "Call list_tradeable_accounts" in error["message"]
    near = tool_error(run(make_server(), lambda c: call(c, "get_quote", account_id="DU111", ticker="AAP")))
    assert near["error_code"] == ErrorCode.SYMBOL_NOT_FOUND
    assert {m["ticker"] for m in near["details"]["near_matches"]} >= {"AAPL", "AAPLX"}


def test_a_preview_says_when_it_cannot_place_a_real_order(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    ibkr.add_account("U222", cash="100000", is_paper=False)
    live = run(make_server(), lambda c: preview(c, account_id="U222"))
    assert any("not a paper account" in w and "cannot be executed" in w for w in live["warnings"])
    simulated = run(make_server(ORDERS_ENABLED=False), preview)
    assert any("SIMULATED" in w for w in simulated["warnings"])
    assert run(make_server(), preview)["warnings"] == []


def test_cancel_orders_cancels_every_open_order_of_one_account(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    async def scenario(client: Client) -> tuple[list[str], Any, Any]:
        working = []
        for price in ("150", "151"):
            shown = await preview(client, order_type="Limit", limit_price=price, time_in_force="GTC")
            working.append(payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))["order_id"])
        filled = await preview(client)
        await call(client, "execute_trade", preview_id=filled["preview_id"])
        return working, await call(client, "cancel_orders", account_id="DU111"), \
            await call(client, "cancel_orders", account_id="NOPE1")

    working, result, unknown = run(make_server(), scenario)
    done = payload(result)
    assert sorted(o["order_id"] for o in done["orders"]) == sorted(working)
    assert done["canceled"] == 2 and done["not_canceled"] == 0
    assert {o["status"] for o in done["orders"]} == {"CANCELED"}
    assert tool_error(unknown)["error_code"] == ErrorCode.ACCOUNT_NOT_FOUND
    with session_factory() as session:
        cancels = session.execute(select(TradeEvent.order_id).where(TradeEvent.event_type.like("CANCEL%")))
        assert {str(i) for i in cancels.scalars()} >= set(working)


def test_one_broker_down_does_not_hide_the_other_brokers_accounts(
    make_server: ServerFactory, snaptrade: MemoryBroker
) -> None:
    snaptrade.unavailable = True
    result = payload(run(make_server(), lambda c: call(c, "list_tradeable_accounts")))
    assert [a["account_id"] for a in result["accounts"]] == ["DU111"] and result["count"] == 1
    [entry] = result["broker_errors"]
    assert entry["provider"] == "snaptrade" and entry["error_code"] == "BROKER_UNAVAILABLE"
