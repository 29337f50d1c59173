"""user_email on the tools (issue 14): one platform user's preview or order is not another's, over a real
MCP client session; with no user given, every call behaves as before."""

from __future__ import annotations

from typing import Any

from mcp import Client
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent
from tests.mcp.conftest import ServerFactory, payload, tool_error
from tests.mcp.test_confirmation import Human
from tests.mcp.test_tools import call, run
from tests.support.memory_broker import MemoryBroker

ALICE, BOB = "alice@example.com", "bob@example.com"
LIMIT = {"account_id": "DU111", "ticker": "AAPL", "side": "BUY", "quantity": 2, "order_type": "Limit",
         "limit_price": "150", "time_in_force": "GTC"}


def test_another_users_preview_and_order_cannot_be_executed_read_or_cancelled(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    human = Human()

    async def scenario(client: Client) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        shown = payload(await call(client, "preview_trade", **LIMIT, user_email=" Alice@Example.com"))
        pid = shown["preview_id"]
        seen["preview"] = shown
        seen["bob_execute"] = tool_error(await call(client, "execute_trade", preview_id=pid, user_email=BOB))
        seen["bob_basket"] = payload(await call(client, "execute_trades", preview_ids=[pid], user_email=BOB))
        seen["asked_before_alice"] = len(human.asked)
        seen["order"] = order = payload(await call(client, "execute_trade", preview_id=pid, user_email=ALICE))
        oid = order["order_id"]
        seen["bob_status"] = tool_error(await call(client, "get_order_status", order_id=oid, user_email=BOB))
        seen["bob_cancel"] = tool_error(await call(client, "cancel_order", order_id=oid, user_email=BOB))
        seen["bob_list"] = payload(await call(client, "get_orders", account_id="DU111", user_email=BOB))
        seen["bob_cancel_all"] = payload(await call(client, "cancel_orders", account_id="DU111", user_email=BOB))
        seen["bob_cancel_ids"] = payload(await call(client, "cancel_orders", order_ids=[oid], user_email=BOB))
        seen["bob_statuses"] = payload(await call(client, "get_orders_status", order_ids=[oid], user_email=BOB))
        seen["alice_list"] = payload(await call(client, "get_orders", account_id="DU111", user_email=ALICE))
        seen["nobody_status"] = payload(await call(client, "get_order_status", order_id=oid))
        seen["nobody_list"] = payload(await call(client, "get_orders", account_id="DU111"))
        seen["alice_cancel"] = payload(await call(client, "cancel_order", order_id=oid, user_email=ALICE))
        seen["bad"] = tool_error(await call(client, "get_order_status", order_id=oid, user_email="alice"))
        return seen

    seen = run(make_server(), scenario, "legacy", elicitation_callback=human)
    assert seen["preview"]["user_email"] == ALICE
    assert seen["bob_execute"]["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert "another user" in seen["bob_execute"]["message"]
    basket = seen["bob_basket"]
    assert basket["status"] == "failed" and basket["placed_legs"] == []
    assert basket["legs"][0]["error"]["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert seen["asked_before_alice"] == 0  # bob's refusals were decided before any prompt
    assert len(human.asked) == 1 and ibkr.place_calls == 1  # only alice's execute reached the broker
    order = seen["order"]
    assert order["status"] == "ACCEPTED" and order["user_email"] == ALICE
    assert seen["bob_status"]["error_code"] == ErrorCode.ORDER_NOT_FOUND
    assert seen["bob_cancel"]["error_code"] == ErrorCode.ORDER_NOT_FOUND
    # bob sees neither alice's row nor the broker's copy of it (it is known as alice's, not "placed elsewhere")
    assert seen["bob_list"]["orders"] == []
    assert seen["bob_cancel_all"]["count"] == 0
    [listed] = seen["bob_cancel_ids"]["orders"]
    assert listed["canceled"] is False and listed["error"]["error_code"] == ErrorCode.ORDER_NOT_FOUND
    assert seen["bob_statuses"]["found"] == 0
    assert [o["order_id"] for o in seen["alice_list"]["orders"]] == [order["order_id"]]
    # no user given: as before (the platform's own call), the order is readable and listed
    assert seen["nobody_status"]["status"] == "ACCEPTED"
    assert [o["order_id"] for o in seen["nobody_list"]["orders"]] == [order["order_id"]]
    assert seen["alice_cancel"]["status"] == "CANCELED"
    bad = seen["bad"]
    assert bad["error_code"] == ErrorCode.VALIDATION_ERROR
    assert bad["details"]["problems"][0]["field"] == "user_email"
    with session_factory() as session:
        refused = sorted(session.execute(select(TradeEvent.event_type).where(
            TradeEvent.event_type.in_(["EXECUTE_REFUSED", "STATUS_REFUSED", "CANCEL_REFUSED"]))).scalars())
    assert refused == ["CANCEL_REFUSED", "CANCEL_REFUSED", "EXECUTE_REFUSED", "EXECUTE_REFUSED", "STATUS_REFUSED",
                       "STATUS_REFUSED"]


def test_without_user_email_the_tools_behave_as_before(make_server: ServerFactory, ibkr: MemoryBroker) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        shown = payload(await call(client, "preview_trade", **LIMIT))
        order = payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))
        listed = payload(await call(client, "get_orders", account_id="DU111", user_email=ALICE))
        canceled = payload(await call(client, "cancel_order", order_id=order["order_id"], user_email=ALICE))
        return shown, order, listed, canceled

    shown, order, listed, canceled = run(make_server(), scenario)
    assert shown["user_email"] is None and order["user_email"] is None and order["status"] == "ACCEPTED"
    # an order made without a user belongs to nobody in particular: any user of the platform may see and cancel it
    assert [o["order_id"] for o in listed["orders"]] == [order["order_id"]]
    assert canceled["status"] == "CANCELED" and ibkr.place_calls == 1
