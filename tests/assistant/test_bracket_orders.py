"""Brackets through a real MCP client session -> service -> real ib_async -> the simulated gateway (issue 16).

The human is asked through elicitation and sees every leg; the three orders reach the gateway as TWS expects
them; get_orders_status and cancel_orders(order_ids) work on the set; SnapTrade refuses before storing anything.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder, TradePreview
from mcp_tools.server import build_server
from tests.ibkr.conftest import wait_until
from tests.market.conftest import ACCOUNT, Market
from tests.mcp.conftest import payload, tool_error

SETTLE = {"RECONCILE_SETTLE_SECONDS": 60}
D = Decimal

BRACKET = {"account_id": ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "4", "order_type": "Limit",
           "limit_price": "190.5", "take_profit_price": "196", "stop_loss_price": "186"}


class Human:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})


def over_mcp(market: Market, scenario: Any, **options: Any) -> Any:
    server, _provider = build_server(market.service.settings, market.service)

    async def main() -> Any:
        async with Client(server, **options) as client:
            return await scenario(client)

    return anyio.run(main)


def statuses(market: Market, ids: list[str]) -> list[str]:
    async def read(client: Client) -> Any:
        return payload(await client.call_tool("get_orders_status", {"order_ids": ids}))

    return [o["status"] for o in over_mcp(market, read)["orders"]]


def placed(market: Market) -> list[list[str]]:
    return [f for _cid, msg, f in market.gateway.received if msg == 3 and f[26]]


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_a_bracket_over_mcp_from_preview_to_oca(market: Market) -> None:
    human = Human()

    async def scenario(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        shown = payload(await client.call_tool("preview_trade", BRACKET))
        done = payload(await client.call_tool("execute_trade", {"preview_id": shown["preview_id"]}))
        return shown, done

    shown, done = over_mcp(market, scenario, elicitation_callback=human)
    assert [(leg["role"], leg["side"], leg["order_type"], leg["limit_price"] or leg["stop_price"])
            for leg in shown["legs"]] == [("entry", "BUY", "Limit", "190.5"), ("take_profit", "SELL", "Limit", "196"),
                                          ("stop_loss", "SELL", "Stop", "186")]
    assert shown["estimated_total"] and [leg["estimated_notional"] for leg in shown["legs"]] == ["762", "784", "744"]
    [asked] = human.asked  # the confirmation names every leg
    assert "take-profit SELL 4 Limit 196" in asked and "stop-loss SELL 4 Stop 186" in asked
    assert done["order_roles"] == ["entry", "take_profit", "stop_loss"] and done["placed"] is True
    ids = done["order_ids"]
    assert ids[0] == done["order_id"] and len(set(ids)) == 3

    wire = placed(market)[-3:]
    assert [w[27] for w in wire] == ["0", "0", "1"] and [w[28] for w in wire] == ["0", wire[0][1], wire[0][1]]
    assert wire[1][22] == wire[2][22] == done["client_order_ref"] + "-oca"
    snapshots = [o for o in market.gateway.orders if o.order_ref.startswith(done["client_order_ref"])]
    assert [(o.parent_id, o.oca_type) for o in snapshots][1:] == [(int(wire[0][1]), 1)] * 2

    wait_until(lambda: statuses(market, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="children working")
    market.gateway.set_price("AAPL", last=D("185.9"), bid=D("185.89"), ask=D("185.91"))  # the stop triggers
    wait_until(lambda: statuses(market, ids) == ["EXECUTED", "CANCELED", "EXECUTED"], what="stop fills, OCA")


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_cancel_orders_on_the_entry_cancels_the_whole_set(market: Market) -> None:
    async def scenario(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        shown = payload(await client.call_tool("preview_trade", {**BRACKET, "limit_price": "185",
                                                                 "stop_loss_price": "180"}))
        done = payload(await client.call_tool("execute_trade", {"preview_id": shown["preview_id"]}))
        return done, payload(await client.call_tool("cancel_orders", {"order_ids": [done["order_id"]]}))

    done, cancelled = over_mcp(market, scenario)
    [entry] = cancelled["orders"]
    assert entry["canceled"] is True and entry["order_ids"] == done["order_ids"]
    wait_until(lambda: statuses(market, done["order_ids"]) == ["CANCELED"] * 3, what="the set cancelled")
    assert all(o.status == "Cancelled" for o in market.gateway.orders
               if o.order_ref.startswith(done["client_order_ref"]))


@pytest.mark.parametrize("market", [SETTLE], indirect=True)
def test_snaptrade_refuses_a_bracket_before_anything_is_stored(
    market: Market, session_factory: sessionmaker[Session],
) -> None:
    async def scenario(client: Client) -> tuple[Any, Any]:
        refused = await client.call_tool("preview_trade", {**BRACKET, "account_id": market.snaptrade_account})
        wrong = await client.call_tool("preview_trade", {**BRACKET, "take_profit_price": "189"})
        return refused, wrong

    refused, wrong = over_mcp(market, scenario)
    assert tool_error(refused)["error_code"] == "UNSUPPORTED_ORDER" and "bracket" in tool_error(refused)["message"]
    error = tool_error(wrong)
    assert error["error_code"] == "VALIDATION_ERROR" and "take_profit_price" in error["message"]
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(TradePreview)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(TradeOrder)).scalar_one() == 0
