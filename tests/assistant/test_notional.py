"""Issue 15: "buy $1,000 of MSFT": notional instead of quantity, over a real MCP client session on both simulators."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.assistant.test_truthful_results import SETTLE, call, over_mcp
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error


def paper(market: Market) -> str:
    return str(market.seeded["accounts"]["paper"])


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_a_cash_amount_at_snaptrade_is_sent_as_notional_value_and_filled_as_previewed(market: Market) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        shown = payload(await client.call_tool("preview_trade", {
            "account_id": paper(market), "ticker": "MSFT", "side": "BUY", "notional": "1000"}))
        order = payload(await client.call_tool("execute_trade", {"preview_id": shown["preview_id"]}))
        return shown, order

    shown, order = over_mcp(market, scenario)
    assert shown["notional"] == "1000" and shown["order_options"] == {"notional": "1000"}
    estimated = Decimal(shown["estimated_quantity"])
    assert shown["quantity"] == shown["estimated_quantity"] and 2 < estimated < Decimal("2.4")
    assert shown["summary"].startswith(f"BUY USD 1,000.00 of MSFT (est. {shown['quantity']} shares) Market Day in ")
    assert Decimal(shown["estimated_cost"]) <= 1000 and shown["currency"] == "USD"
    [impact] = [r for r in market.snaptrade.requests if r.path == "/trade/impact"]
    assert impact.body.get("notional_value") == "1000" and "units" not in impact.body
    assert order["status"] == "EXECUTED" and Decimal(order["filled_quantity"]) == estimated
    assert order["attention"] is None  # the fill is the broker's own units: no over-fill flagged


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_where_no_cash_amount_is_taken_the_error_says_how_many_whole_shares_it_buys(market: Market) -> None:
    ask = Decimal(payload(call(market, "get_quote", account_id=ACCOUNT, ticker="MSFT"))["ask"])
    whole = int(Decimal(1000) // ask)
    refused = tool_error(call(market, "preview_trade", account_id=ACCOUNT, ticker="MSFT", side="BUY",
                              notional=1000))
    assert refused["error_code"] == "UNSUPPORTED_ORDER"
    assert refused["message"] == (f"IBKR takes no orders for a cash amount. USD 1,000 buys {whole} whole shares of "
                                  f"MSFT at the ask {ask}: preview quantity {whole}")
    assert refused["details"]["suggested_quantity"] == str(whole) and refused["details"]["field"] == "notional"
    limit = tool_error(call(market, "preview_trade", account_id=paper(market), ticker="MSFT", side="BUY",
                            notional="1000", order_type="Limit", limit_price="400"))
    assert limit["error_code"] == "UNSUPPORTED_ORDER"
    assert limit["message"].startswith("SnapTrade takes a cash amount only for Market Day orders. USD 1,000 buys ")
    both = tool_error(call(market, "preview_trade", account_id=ACCOUNT, ticker="MSFT", side="BUY", quantity=2,
                           notional=1000))
    assert {p["field"] for p in both["details"]["problems"]} == {"quantity", "notional"}
    neither = tool_error(call(market, "preview_trade", account_id=ACCOUNT, ticker="MSFT", side="BUY"))
    assert "give exactly one of quantity" in neither["message"]
