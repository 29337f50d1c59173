"""Issue 15, "done when": one assistant session of ten everyday requests, in order, against both simulators
in ONE `tradeexec mcp` process over a real MCP client session (stdio), with a scripted human answering the
confirmation prompts. Each step asserts the fields and messages a model relies on to tell the human the truth
and to place exactly the order they asked for.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder
from tests.mcp.conftest import payload, tool_error
from tests.mcp.process import IBKR_ACCOUNT, REPO, broker_env, running_simulators, stdio_client

pytestmark = pytest.mark.timeout(300)
IBKR_LABEL = "IBKR DU7654321 (PAPER, ****4321)"
SNAPTRADE_LABEL = "Alpaca Paper (PAPER, ****0002)"


class ScriptedHuman:
    """Answers each confirmation prompt as scripted (accept by default) and keeps what it was shown."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.answers: deque[str] = deque()

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.shown.append(params.message)
        answer = self.answers.popleft() if self.answers else "yes"
        if answer == "dismiss":
            return ElicitResult(action="cancel")
        return ElicitResult(action="accept", content={"confirm": answer == "yes"})


class Assistant:
    """The model's side of the conversation: tool calls, their JSON, and what the human was asked."""

    def __init__(self, client: Client, human: ScriptedHuman) -> None:
        self.client, self.human = client, human

    async def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return payload(await self.client.call_tool(tool, arguments))

    async def refused(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return tool_error(await self.client.call_tool(tool, arguments))

    async def confirm_and_execute(self, preview: dict[str, Any], answer: str = "yes") -> dict[str, Any]:
        """execute_trade after showing the summary; the server asks the human, who answers `answer`."""
        self.human.answers.append(answer)
        asked = len(self.human.shown)
        result = await self.client.call_tool("execute_trade", {"preview_id": preview["preview_id"]})
        assert len(self.human.shown) == asked + 1, "the human must be asked before anything is placed"
        prompt = self.human.shown[-1]
        assert preview["summary"] in prompt and preview["preview_id"] in prompt
        return payload(result) if answer == "yes" else tool_error(result)


def _masked(text: str) -> str:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)


def _readme_shows(text: str) -> bool:
    return _masked(text) in _masked((REPO / "README.md").read_text())


async def buy_5_apple_in_my_ibkr_paper_account(a: Assistant) -> dict[str, Any]:
    listed = await a.ok("list_tradeable_accounts")
    assert (listed["trading_mode"], listed["orders_enabled"], listed["trading_blocked"]) == ("paper", True, None)
    ibkr = [x for x in listed["accounts"] if x["provider"] == "ibkr" and x["is_paper"]]
    assert [x["account_id"] for x in ibkr] == [IBKR_ACCOUNT] and ibkr[0]["fractional_shares"] is False
    found = await a.ok("search_symbol", account_id=IBKR_ACCOUNT, ticker="apple")  # by company name
    assert found["matches"][0]["ticker"] == "AAPL" and found["matches"][0]["description"] == "APPLE INC"
    preview = await a.ok("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY", quantity=5)
    assert preview["summary"] == f"BUY 5 AAPL Market Day in {IBKR_LABEL}: est. cost USD 951.00"
    assert (preview["estimated_price"], preview["estimated_price_basis"], preview["currency"]) == ("190", "quote",
                                                                                                    "USD")
    assert preview["estimated_cost"] == "951" and preview["estimated_proceeds"] is None
    assert preview["instrument"] is None and preview["warnings"] == [] and "execute_trade" in preview["next_step"]
    order = await a.confirm_and_execute(preview)
    assert _readme_shows(a.human.shown[-1]), f"README must show this prompt as the human saw it:\n{a.human.shown[-1]}"
    assert (order["status"], order["filled_quantity"], order["order_type"], order["currency"]) == (
        "EXECUTED", "5", "Market", "USD")
    assert order["executed_at"] and order["placed"] is True and order["simulated"] is False
    return order


async def make_that_a_limit_at_185_gtc(a: Assistant, filled: dict[str, Any]) -> dict[str, Any]:
    tools = {t.name: t.description or "" for t in (await a.client.list_tools()).tools}
    assert "a filled one cannot be changed" in tools["execute_trade"]
    assert "cancel it" in tools["cancel_order"] and "preview a new one" in tools["cancel_order"]
    status = await a.ok("get_order_status", order_id=filled["order_id"])
    assert status["status"] == "EXECUTED"  # filled: nothing to change; the human agrees to a new limit order
    limit = await a.ok("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY", quantity=5,
                       order_type="Limit", limit_price="185", time_in_force="GTC")
    assert limit["summary"] == f"BUY 5 AAPL Limit limit 185 GTC in {IBKR_LABEL}: est. cost USD 926.00"
    assert (limit["estimated_price"], limit["estimated_price_basis"], limit["estimated_cost"]) == ("185", "limit",
                                                                                                   "926")
    working = await a.confirm_and_execute(limit)
    assert (working["status"], working["order_type"], working["limit_price"], working["time_in_force"]) == (
        "ACCEPTED", "Limit", "185", "GTC")
    return working


async def sell_everything_in_the_snaptrade_account(a: Assistant, account: str) -> dict[str, Any]:
    held = await a.ok("get_positions", account_id=account)
    assert held["as_of"] and [(p["ticker"], p["quantity"]) for p in held["positions"]] == [("SPY", "20")]
    sell = await a.ok("preview_trade", account_id=account, ticker="SPY", side="SELL", quantity="20")
    assert sell["summary"] == f"SELL 20 SPY Market Day in {SNAPTRADE_LABEL}: est. proceeds USD 10,200.00"
    assert _readme_shows(sell["summary"]), f"README must show this summary:\n{sell['summary']}"
    assert sell["estimated_proceeds"] == "10200" and sell["estimated_cost"] is None
    assert "position_held" in sell["validation"]["checks_passed"]
    sold = await a.confirm_and_execute(sell)
    assert (sold["status"], sold["filled_quantity"], sold["broker_provider"]) == ("EXECUTED", "20", "snaptrade")
    return sold


async def cancel_all_my_open_orders(a: Assistant, working: dict[str, Any], snaptrade: str) -> None:
    ambiguous = await a.refused("get_orders", state="open")
    assert ambiguous["error_code"] == "AMBIGUOUS_ACCOUNT" and IBKR_ACCOUNT in ambiguous["details"]["accounts"]
    open_ibkr = await a.ok("get_orders", account_id=IBKR_ACCOUNT, state="open", days=1)
    assert [o["order_id"] for o in open_ibkr["orders"]] == [working["order_id"]]
    assert (await a.ok("get_orders", account_id=snaptrade, state="open"))["orders"] == []
    canceled = await a.ok("cancel_orders", account_id=IBKR_ACCOUNT)
    assert (canceled["count"], canceled["canceled"], canceled["not_canceled"]) == (1, 1, 0)
    [one] = canceled["orders"]
    assert one["status"] == "CANCELED" and one["cancelled_at"] and one["message"].startswith("cancelled at ibkr")
    assert (await a.ok("get_orders", account_id=IBKR_ACCOUNT, state="open"))["orders"] == []


async def how_did_my_last_order_go(a: Assistant, accounts: list[str], sold: dict[str, Any]) -> None:
    newest = [(await a.ok("get_orders", account_id=acc))["orders"][0] for acc in accounts]
    last = max(newest, key=lambda o: o["created_at"])
    assert last["order_id"] == sold["order_id"]
    status = await a.ok("get_order_status", order_id=last["order_id"])
    assert (status["status"], status["side"], status["ticker"], status["filled_quantity"]) == (
        "EXECUTED", "SELL", "SPY", "20")
    assert status["average_fill_price"] == "510" and status["total_cost"] == "10200" and status["currency"] == "USD"
    assert status["executed_at"] and status["cancelled_at"] is None and status["stale"] is False


async def buy_1000_dollars_of_msft(a: Assistant, snaptrade: str) -> None:
    at_ibkr = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="MSFT", side="BUY", notional="1000")
    assert at_ibkr["error_code"] == "UNSUPPORTED_ORDER"
    assert at_ibkr["message"] == ("IBKR takes no orders for a cash amount. USD 1,000 buys 2 whole shares of MSFT at "
                                  "the ask 420.01: preview quantity 2")
    cash = await a.ok("preview_trade", account_id=snaptrade, ticker="MSFT", side="BUY", notional="1000")
    estimate = Decimal(cash["estimated_quantity"])
    assert cash["notional"] == "1000" and cash["quantity"] == cash["estimated_quantity"] and 2 < estimate < 3
    assert cash["summary"].startswith(f"BUY USD 1,000.00 of MSFT (est. {cash['quantity']} shares) Market Day in "
                                      f"{SNAPTRADE_LABEL}: est. cost USD ")
    bought = await a.confirm_and_execute(cash)
    assert bought["status"] == "EXECUTED" and Decimal(bought["filled_quantity"]) == estimate
    assert bought["attention"] is None


async def buy_1_es(a: Assistant) -> None:
    bare = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="ES", side="BUY", quantity=1)
    assert bare["error_code"] == "SYMBOL_NOT_FOUND" and bare["details"]["derivative_ticker"] == "/ES"
    assert "a bare ticker never means a derivative" in bare["message"]
    future = await a.ok("preview_trade", account_id=IBKR_ACCOUNT, ticker="/ES", side="BUY", quantity=1)
    instrument = future["instrument"]
    assert (instrument["sec_type"], instrument["multiplier"], instrument["quantity_unit"]) == ("FUT", "50", "contracts")
    assert future["summary"].startswith(f"BUY 1 contracts /ES (FUT {instrument['local_symbol']} on CME, expiry "
                                        f"{instrument['expiry']}, multiplier 50, USD) Market Day in {IBKR_LABEL}")
    declined = await a.confirm_and_execute(future, answer="no")  # the human balks at 50 x the index
    assert declined["error_code"] == "CONFIRMATION_DECLINED" and declined["details"]["placed"] is False
    assert "declined the order: no order was placed" in declined["message"]


async def buy_a_spy_call(a: Assistant) -> None:
    chain = await a.ok("get_option_chain", account_id=IBKR_ACCOUNT, underlying="SPY")
    expiry = chain["expiries"][0]
    listed = await a.ok("get_option_chain", account_id=IBKR_ACCOUNT, underlying="SPY", expiry=expiry)
    call = next(c for c in listed["contracts"] if c["right"] == "C" and c["strike"] == chain["underlying_price"])
    option = await a.ok("preview_trade", account_id=IBKR_ACCOUNT, ticker=call["ticker"], side="BUY", quantity=1)
    instrument = option["instrument"]
    assert (instrument["sec_type"], instrument["right"], instrument["multiplier"], instrument["expiry"]) == (
        "OPT", "C", "100", expiry)
    assert f"strike {call['strike']} call, multiplier 100" in option["summary"]
    assert option["summary"].startswith("BUY 1 contracts SPY ")
    placed = await a.confirm_and_execute(option)
    assert placed["status"] == "EXECUTED" and placed["instrument"]["right"] == "C"


async def buy_some_apple(a: Assistant) -> None:
    vague = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY")
    assert {p["field"] for p in vague["details"]["problems"]} == {"quantity", "notional"}  # ask the human how many
    named = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="apple", side="BUY", quantity=1)
    assert named["error_code"] == "SYMBOL_NOT_FOUND" and "search_symbol" in named["message"]
    assert named["details"]["near_matches"][0]["ticker"] == "AAPL"


async def mistakes(a: Assistant, filled: dict[str, Any], snaptrade: str) -> None:
    asked = len(a.human.shown)
    by_digits = await a.refused("get_positions", account_id="0002")
    assert by_digits["error_code"] == "ACCOUNT_NOT_FOUND" and "list_tradeable_accounts" in by_digits["message"]
    assert [m["account_id"] for m in by_digits["details"]["did_you_mean"]] == [snaptrade]
    by_name = await a.refused("preview_trade", account_id="Alpaca Paper", ticker="AAPL", side="BUY", quantity=1)
    assert by_name["error_code"] == "VALIDATION_ERROR" and by_name["details"]["problems"][0]["field"] == "account_id"
    assert f"'Alpaca Paper' names account_id '{snaptrade}': pass that id" in by_name["message"]
    again = await a.refused("execute_trade", preview_id=filled["preview_id"])
    assert again["error_code"] == "ALREADY_EXECUTED" and f"order_id {filled['order_id']}" in again["message"]
    assert "additional order" in again["message"]
    padded = await a.refused("execute_trade", preview_id=f" {filled['preview_id']}")
    assert padded["error_code"] == "VALIDATION_ERROR" and padded["details"]["problems"][0]["field"] == "preview_id"
    unknown = await a.refused("execute_trade", preview_id=str(uuid.uuid4()))
    assert unknown["error_code"] == "PREVIEW_NOT_FOUND" and "preview_trade" in unknown["message"]
    fraction = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY", quantity="1.5")
    assert fraction["error_code"] == "UNSUPPORTED_ORDER" and fraction["details"]["whole_quantity"] == 1
    wrong_name = await a.refused("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY", qty=1)
    assert {p["field"] for p in wrong_name["details"]["problems"]} >= {"qty"}
    done = await a.refused("cancel_order", order_id=filled["order_id"])
    assert done["error_code"] == "ORDER_NOT_CANCELABLE" and "EXECUTED" in done["message"]
    assert len(a.human.shown) == asked  # none of these mistakes reached a confirmation prompt
    preview = await a.ok("preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY", quantity=1)
    dismissed = await a.confirm_and_execute(preview, answer="dismiss")
    assert dismissed["error_code"] == "CONFIRMATION_DECLINED" and dismissed["details"]["answer"] == "dismissed"
    assert "closed the confirmation prompt without answering" in dismissed["message"]


def test_ten_everyday_requests_in_one_assistant_session(
    database_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    human = ScriptedHuman()
    with running_simulators() as simulators:
        snaptrade = str(simulators["seeded"]["accounts"]["paper"])
        env = broker_env(database_url, simulators, tmp_path, 901, MAX_ORDER_NOTIONAL="1000000",
                         EXECUTE_CONFIRMATION="auto")

        async def session() -> None:
            async with stdio_client(env, elicitation_callback=human) as client:
                a = Assistant(client, human)
                filled = await buy_5_apple_in_my_ibkr_paper_account(a)
                working = await make_that_a_limit_at_185_gtc(a, filled)
                sold = await sell_everything_in_the_snaptrade_account(a, snaptrade)
                await cancel_all_my_open_orders(a, working, snaptrade)
                await how_did_my_last_order_go(a, [IBKR_ACCOUNT, snaptrade], sold)
                await buy_1000_dollars_of_msft(a, snaptrade)
                await buy_1_es(a)
                await buy_a_spy_call(a)
                await buy_some_apple(a)
                await mistakes(a, filled, snaptrade)

        anyio.run(session)
    with session_factory() as db:
        placed = db.execute(select(func.count()).select_from(TradeOrder)).scalar_one()
    assert placed == 5  # AAPL market, AAPL limit (cancelled), SPY sell, MSFT cash amount, the SPY call
    assert len(human.shown) == 7  # the five placed, the declined future and the dismissed AAPL: nothing else
