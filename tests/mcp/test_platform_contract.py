"""Every field the platform contract names, in service results AND MCP tool results; plain decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mcp import Client
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from brokers.models import OrderSide, OrderStatus
from brokers.records import BrokerOrder
from db.models import TradePreview
from services.order_store import utcnow
from services.trade_execution import TradeExecutionService
from tests.contract.fields import contract_fields, missing, not_plain_numbers
from tests.mcp.conftest import ServerFactory, make_settings, payload
from tests.mcp.test_tools import call, run
from tests.support.memory_broker import MemoryBroker


def _outside_order(broker: MemoryBroker, account: str) -> str:
    """An order the human placed in the brokerage app: the broker reports it, we have no row."""
    broker.orders["H-1"] = BrokerOrder(
        account_id=account, brokerage_order_id="H-1", status=OrderStatus.ACCEPTED, ticker="MSFT",
        side=OrderSide.SELL, order_type="Limit", quantity=Decimal("2.00000000"), limit_price=Decimal("500.000"),
        remaining_quantity=Decimal("2"), placed_at=utcnow(), raw={"id": "H-1"},
    )
    return "H-1"


def _check(result: dict[str, Any], title: str) -> None:
    assert missing(result, title) == [], f"{title}: missing {missing(result, title)}"
    assert not_plain_numbers(result) == []


def test_contract_lists_are_read_from_the_file() -> None:
    top, nested = contract_fields("Preview result")
    assert {"pre_trade_weight", "universal_symbol_id", "validation", "market_data"} <= top
    assert nested == {"is_valid", "errors", "warnings", "buying_power", "estimated_cost", "post_trade_weight"}
    assert {"order_status", "new_preview", "executed_at", "cancelled_at"} <= contract_fields("Execution result")[0]
    assert {"id", "source", "total_cost"} <= contract_fields("Order rows")[0]


def test_service_results_carry_every_contract_field(
    session_factory: sessionmaker[Session], ibkr: MemoryBroker
) -> None:
    service = TradeExecutionService(make_settings(), session_factory, [ibkr])
    preview = service.preview_order("DU111", "AAPL", "BUY", Decimal("3.000"), "Limit", Decimal("185.50"))
    shown = preview.as_json()
    _check(shown, "Preview result")
    assert shown["requires_confirmation"] is True and shown["validation"]["is_valid"] is True
    assert shown["quantity"] == "3" and shown["limit_price"] == "185.5"
    assert 0 < Decimal(shown["post_trade_weight"]) < 1  # a fraction, not a percentage
    assert shown["universal_symbol_id"] == "sym-AAPL" and shown["snaptrade_trade_id"] is None
    assert service._detect_account_provider("DU111") == "ibkr"

    order = service.execute_order(preview.preview_id)
    _check(order.as_json(), "Execution result")
    assert order.order_status == "ACCEPTED" and order.new_preview is None

    _outside_order(ibkr, "DU111")
    rows = [r.as_json() for r in service.get_orders()]  # one tradeable account: no account_id needed
    for row in rows:
        _check(row, "Order rows")
    assert {r["source"] for r in rows} == {"local", "brokerage"}
    [foreign] = [r for r in rows if r["source"] == "brokerage"]
    assert foreign["id"] is None and foreign["preview_id"] is None and foreign["quantity"] == "2"

    canceled = service.cancel_order("DU111", order.brokerage_order_id)  # the contract's form: the BROKER's id
    assert canceled.order_id == order.order_id and canceled.order_status == "CANCELED"
    assert canceled.cancelled_at is not None
    outside = service.cancel_order("DU111", "H-1")
    assert outside.source == "brokerage" and outside.order_status == "CANCELED"


def test_mcp_results_carry_every_contract_field(
    make_server: ServerFactory, ibkr: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    _outside_order(ibkr, "DU111")

    async def scenario(client: Client) -> None:
        shown = payload(await call(client, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY",
                                   quantity="2.0"))
        _check(shown, "Preview result")
        order = payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))
        _check(order, "Execution result")
        assert order["order_status"] == "EXECUTED" and order["total_cost"] == "380"
        listed = payload(await call(client, "get_orders", account_id="DU111"))
        for row in listed["orders"]:
            _check(row, "Order rows")
        assert {r["source"] for r in listed["orders"]} == {"local", "brokerage"}

        stale = payload(await call(client, "preview_trade", account_id="DU111", ticker="AAPL", side="BUY",
                                   quantity=1))
        with session_factory.begin() as session:
            session.execute(update(TradePreview).values(expires_at=utcnow()))
        expired = payload(await call(client, "execute_trade", preview_id=stale["preview_id"]))
        _check(expired, "Execution result")
        assert expired["error_code"] == ErrorCode.PREVIEW_EXPIRED and expired["placed"] is False
        _check(expired["new_preview"], "Preview result")

    run(make_server(), scenario)
    assert ibkr.place_calls == 1
