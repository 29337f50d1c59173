"""get_orders_status(order_ids) and cancel_orders(order_ids | account_id) over a real MCP client session."""

from __future__ import annotations

import uuid
from typing import Any

from mcp import Client
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent
from tests.mcp.conftest import ServerFactory, payload, row_counts, tool_error
from tests.mcp.test_tools import call, preview, run

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


async def _working(client: Client, prices: tuple[str, ...]) -> list[str]:
    ids = []
    for price in prices:
        shown = await preview(client, order_type="Limit", limit_price=price, time_in_force="GTC")
        ids.append(payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))["order_id"])
    return ids


def test_get_orders_status_answers_each_order_and_lists_the_unknown_ones(make_server: ServerFactory) -> None:
    async def scenario(client: Client) -> tuple[list[str], Any, Any]:
        ids = await _working(client, ("150", "151"))
        return ids, await call(client, "get_orders_status", order_ids=[*ids, UNKNOWN, ids[0]]), \
            await call(client, "get_orders_status", order_ids=[" " + ids[0]])

    ids, result, malformed = run(make_server(), scenario)
    data = payload(result)
    assert "orders" in data, data
    assert [o["order_id"] for o in data["orders"]] == [*ids, UNKNOWN]  # in order, each once
    assert (data["count"], data["found"], data["not_found"]) == (3, 2, 1)
    assert [o["status"] for o in data["orders"][:2]] == ["ACCEPTED", "ACCEPTED"]
    assert data["orders"][2]["found"] is False and data["orders"][2]["error"]["error_code"] == "ORDER_NOT_FOUND"
    assert tool_error(malformed)["error_code"] == ErrorCode.VALIDATION_ERROR


def test_cancel_orders_by_ids_cancels_exactly_those_and_audits_each(
    make_server: ServerFactory, session_factory: sessionmaker[Session]
) -> None:
    async def scenario(client: Client) -> tuple[list[str], Any, Any]:
        ids = await _working(client, ("150", "151", "152"))
        result = await call(client, "cancel_orders", order_ids=[ids[0], ids[2], UNKNOWN])
        return ids, result, await call(client, "get_orders_status", order_ids=ids)

    ids, result, after = run(make_server(), scenario)
    data = payload(result)
    assert data["account_id"] is None and data["order_ids"] == [ids[0], ids[2], UNKNOWN]
    assert [(o["order_id"], o["canceled"]) for o in data["orders"]] == [(ids[0], True), (ids[2], True),
                                                                        (UNKNOWN, False)]
    assert (data["canceled"], data["not_canceled"]) == (2, 1)
    assert [o["status"] for o in payload(after)["orders"]] == ["CANCELED", "ACCEPTED", "CANCELED"]
    with session_factory() as session:
        events = session.execute(select(TradeEvent.event_type, TradeEvent.order_id)
                                 .where(TradeEvent.event_type.like("CANCEL%"))).all()
    assert {(e, str(o)) for e, o in events} >= {("CANCEL_REQUESTED", ids[0]), ("CANCEL_RESULT", ids[0]),
                                                ("CANCEL_REQUESTED", ids[2]), ("CANCEL_RESULT", ids[2])}
    assert all(str(o) != ids[1] for _e, o in events)


def test_cancel_orders_needs_exactly_one_of_account_id_and_order_ids(
    make_server: ServerFactory, session_factory: sessionmaker[Session]
) -> None:
    async def scenario(client: Client) -> list[Any]:
        return [await call(client, "cancel_orders"),
                await call(client, "cancel_orders", account_id="DU111", order_ids=[str(uuid.uuid4())]),
                await call(client, "cancel_orders", order_ids=[])]

    before = row_counts(session_factory)
    for refused in run(make_server(), scenario):
        error = tool_error(refused)
        assert error["error_code"] == ErrorCode.VALIDATION_ERROR, error
    assert row_counts(session_factory) == before


def test_the_in_memory_broker_refuses_a_bracket_before_anything_is_stored(
    make_server: ServerFactory, session_factory: sessionmaker[Session]
) -> None:
    before = row_counts(session_factory)
    refused = tool_error(run(make_server(), lambda client: call(
        client, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY", quantity=3, order_type="Limit",
        limit_price="150", take_profit_price="160", stop_loss_price="140")))
    assert refused["error_code"] == ErrorCode.UNSUPPORTED_ORDER and "bracket" in refused["message"]
    previews, orders, _events = row_counts(session_factory)
    assert (previews, orders) == before[:2]  # only the refusal's audit event was written
