"""Modifying a working order: a real MCP client session -> service -> real ib_async -> the IB Gateway simulator.

The human answers the elicitation prompt; the simulator's book shows what IB would hold.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from db.models import ModificationStatus, TradeModification
from mcp_tools.server import build_server
from services.trade_execution import TradeExecutionService
from settings import TradingMode
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, event_types, make_settings, order_row, placed_orders, wait_until
from tests.mcp.test_confirmation import Human

D = Decimal


def mcp_calls(service: TradeExecutionService, human: Human, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run the tool calls in order in one MCP client session; a later call may use "$0.field" from an earlier one."""
    server, _provider = build_server(service.settings, service)

    async def main() -> list[Any]:
        results: list[Any] = []
        async with Client(server, mode="auto", elicitation_callback=human) as client:
            for tool, arguments in calls:
                resolved = {k: _resolve(v, results) for k, v in arguments.items()}
                results.append(await client.call_tool(tool, resolved))
        return results

    return anyio.run(main)  # type: ignore[no-any-return]


def _resolve(value: Any, results: list[Any]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        index, _, field = value[1:].partition(".")
        return data(results[int(index)])[field]
    return value


def data(result: CallToolResult) -> dict[str, Any]:
    return json.loads(result.content[0].text)  # type: ignore[union-attr, no-any-return]


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result.content
    return data(result)


def working_limit_order(sim: IBGatewaySimulator, service: TradeExecutionService) -> str:
    sim.auto_fill = False  # the order rests until a test fills it
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="Limit", limit_price="185.00")
    order = service.execute_trade(preview.preview_id)
    assert order.status == "ACCEPTED" and order.order_id
    return order.order_id


def sim_order(sim: IBGatewaySimulator, service: TradeExecutionService, order_id: str) -> Any:
    ref = service.get_order_status(order_id).client_order_ref
    return next(o for o in sim.orders if o.order_ref == ref)


def test_modify_a_working_limit_order_once(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    human = Human()
    preview, first, second = mcp_calls(
        service, human,
        ("preview_modification", {"order_id": order_id, "quantity": 12, "limit_price": "186.50"}),
        ("execute_modification", {"modification_id": "$0.modification_id"}),
        ("execute_modification", {"modification_id": "$0.modification_id"}),
    )
    shown = data(preview)
    assert shown["status"] == "ACTIVE" and shown["old_terms"]["limit_price"] == "185"
    assert {c["field"]: (c["old"], c["new"]) for c in shown["changes"]} == {
        "quantity": ("10", "12"), "limit_price": ("185", "186.5")}
    assert len(human.asked) == 1  # the first execute asked; the second was refused before anyone was asked
    assert "limit_price: 185 -> 186.5" in human.asked[0] and shown["modification_id"] in human.asked[0]

    applied = data(first)
    assert not first.is_error and applied["status"] == "APPLIED"
    assert applied["order"]["quantity"] == "12" and applied["order"]["limit_price"] == "186.5"
    booked = sim_order(sim, service, order_id)
    assert booked.quantity == 12 and booked.lmt_price == D("186.50") and booked.status == "Submitted"
    assert sim.modification_count == 1 and len(placed_orders(sim)) == 2  # the order, then its one modification

    again = error_of(second)
    assert again["error_code"] == ErrorCode.ALREADY_EXECUTED
    assert sim.modification_count == 1 and len(placed_orders(sim)) == 2  # nothing sent the second time

    status = service.get_order_status(order_id)
    assert status.quantity == D(12) and status.limit_price == D("186.5") and status.status == "ACCEPTED"
    sim.fill(booked.order_id, quantity=12, price="186.50")  # the whole new quantity fills: not an over-fill
    row = wait_until(lambda: (r := order_row(session_factory, order_id)).status == "EXECUTED" and r,
                     what="the pushed fill of the modified order")
    assert row.filled_quantity == 12 and row.attention is None and row.quantity == 12
    events = event_types(session_factory, order_id)
    assert {"MODIFICATION_PREVIEWED", "MODIFICATION_REQUESTED", "MODIFICATION_APPLIED"} <= set(events)
    assert "ORDER_QUANTITY_CHANGED" not in events and "ORDER_OVERFILLED" not in events
    assert events.count("MODIFICATION_REFUSED") == 1


def test_a_declined_confirmation_changes_nothing(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    human = Human(action="decline")
    preview, executed = mcp_calls(
        service, human,
        ("preview_modification", {"order_id": order_id, "limit_price": 184}),
        ("execute_modification", {"modification_id": "$0.modification_id"}),
    )
    refused = error_of(executed)
    assert refused["error_code"] == ErrorCode.CONFIRMATION_DECLINED and len(human.asked) == 1
    assert sim.modification_count == 0 and sim_order(sim, service, order_id).lmt_price == D("185.00")
    with session_factory() as session:
        row = session.get(TradeModification, uuid.UUID(data(preview)["modification_id"]))
        assert row is not None and row.status is ModificationStatus.ACTIVE
    assert "MODIFICATION_DECLINED" in event_types(session_factory, order_id)
    assert service.get_order_status(order_id).limit_price == D(185)


def test_a_filled_order_is_refused_before_anyone_is_asked(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    human = Human()
    (preview,) = mcp_calls(service, human, ("preview_modification", {"order_id": order_id, "quantity": "11"}))
    sim.fill(sim_order(sim, service, order_id).order_id, quantity=10, price="185.00")
    wait_until(lambda: order_row(session_factory, order_id).status == "EXECUTED", what="the pushed fill")

    executed, again = mcp_calls(
        service, human,
        ("execute_modification", {"modification_id": data(preview)["modification_id"]}),
        ("preview_modification", {"order_id": order_id, "quantity": "11"}),
    )
    for result in (executed, again):
        refusal = error_of(result)
        assert refusal["error_code"] == ErrorCode.ORDER_NOT_MODIFIABLE and "EXECUTED" in refusal["message"]
    assert human.asked == [] and sim.modification_count == 0
    with session_factory() as session:
        stored = session.execute(select(TradeModification.status)).scalars().all()
    assert stored == [ModificationStatus.ACTIVE]  # the refused execute consumed nothing; the 2nd preview stored none


@pytest.mark.parametrize(("terms", "field"), [
    ({"stop_price": "180"}, "stop_price"),  # a Limit order has no stop price
    ({"trailing_percent": "2"}, "trailing_percent"),
    ({"limit_price": "185.00"}, "order"),  # nothing changes
    ({"quantity": "0"}, "quantity"),
])
def test_terms_that_do_not_fit_are_refused_and_audited(
    terms: dict[str, str], field: str, sim: IBGatewaySimulator, service: TradeExecutionService,
    session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    (result,) = mcp_calls(service, Human(), ("preview_modification", {"order_id": order_id, **terms}))
    refusal = error_of(result)
    assert refusal["error_code"] == ErrorCode.VALIDATION_ERROR
    assert field in {p["field"] for p in refusal["details"]["problems"]} or field in refusal["message"]
    with session_factory() as session:
        assert session.execute(select(TradeModification)).first() is None
    if field != "quantity":  # a malformed argument is refused at the tool's edge, before the service
        assert "MODIFICATION_REFUSED" in event_types(session_factory, order_id)


def test_quantity_below_the_filled_part_is_refused(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    sim.fill(sim_order(sim, service, order_id).order_id, quantity=6, price="185.00")
    wait_until(lambda: order_row(session_factory, order_id).filled_quantity == 6, what="the partial fill")
    with pytest.raises(TradeError) as caught:
        service.preview_modification(order_id, quantity=5)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and "already filled" in caught.value.message
    view = service.preview_modification(order_id, quantity=8)  # more than filled: fine
    assert view.new_terms["quantity"] == "8" and view.estimated_total == D("370.00") + D("1.00")


def test_a_market_order_has_no_limit_price_to_change(
    sim: IBGatewaySimulator, service: TradeExecutionService,
) -> None:
    sim.auto_fill = False
    order = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "5").preview_id)
    with pytest.raises(TradeError) as caught:
        service.preview_modification(order.order_id, limit_price="190")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR and "limit_price" in caught.value.message


@pytest.fixture
def second_service(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, session_factory: sessionmaker[Session],
) -> Iterator[Callable[..., TradeExecutionService]]:
    """Another process's service on the same gateway and database, in another mode."""
    made: list[TradeExecutionService] = []

    def factory(**overrides: Any) -> TradeExecutionService:
        service = TradeExecutionService(make_settings(sim.port, **overrides), session_factory,
                                        [IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER)])
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


def test_orders_off_records_a_simulated_change_and_sends_nothing(
    sim: IBGatewaySimulator, service: TradeExecutionService, second_service: Callable[..., TradeExecutionService],
) -> None:
    order_id = working_limit_order(sim, service)
    off = second_service(ORDERS_ENABLED=False)
    human = Human()
    preview, executed = mcp_calls(
        off, human,
        ("preview_modification", {"order_id": order_id, "limit_price": "186"}),
        ("execute_modification", {"modification_id": "$0.modification_id"}),
    )
    shown = data(preview)
    assert shown["simulated"] is True and "SIMULATED ONLY" in shown["summary"]
    result = data(executed)
    assert result["status"] == "SIMULATED" and result["simulated"] is True and "NOT sent" in result["message"]
    assert human.asked == []  # nothing can reach the broker: nobody is asked
    assert sim.modification_count == 0 and sim_order(sim, service, order_id).lmt_price == D("185.00")
    assert service.get_order_status(order_id).limit_price == D(185)
    with pytest.raises(TradeError) as caught:  # made with orders off: this process (orders on) refuses it
        service.execute_modification(off.preview_modification(order_id, limit_price="187").modification_id)
    assert caught.value.code is ErrorCode.TRADING_DISABLED and sim.modification_count == 0


def test_the_kill_switch_refuses_before_anything_is_stored(
    sim: IBGatewaySimulator, service: TradeExecutionService, second_service: Callable[..., TradeExecutionService],
    session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    halted = second_service(TRADING_KILL_SWITCH=True)
    with pytest.raises(TradeError) as caught:
        halted.preview_modification(order_id, limit_price="186")
    assert caught.value.code is ErrorCode.TRADING_DISABLED
    with session_factory() as session:
        assert session.execute(select(TradeModification)).first() is None


def test_another_users_order_is_not_found(sim: IBGatewaySimulator, service: TradeExecutionService) -> None:
    sim.auto_fill = False
    preview = service.preview_order(ACCOUNT, "AAPL", "BUY", "10", "Limit", "185", user_email="ann@example.com")
    order = service.execute_order(preview.preview_id, user_email="ann@example.com")
    with pytest.raises(TradeError) as caught:
        service.preview_modification(order.order_id, limit_price="186", user_email="bob@example.com")
    assert caught.value.code is ErrorCode.ORDER_NOT_FOUND
    mine = service.preview_modification(order.order_id, limit_price="186", user_email="ann@example.com")
    with pytest.raises(TradeError) as stolen:
        service.execute_modification(mine.modification_id, user_email="bob@example.com")
    assert stolen.value.code is ErrorCode.ORDER_NOT_FOUND and sim.modification_count == 0
    assert service.execute_modification(mine.modification_id, user_email="ann@example.com").status == "APPLIED"


def test_a_connection_lost_after_sending_is_unknown_and_never_sent_again(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    order_id = working_limit_order(sim, service)
    first = service.preview_modification(order_id, limit_price="186")
    second = service.preview_modification(order_id, limit_price="187")
    sim.drop_connection_on_place("after_ack")  # the gateway applies the change; its answer never arrives
    outcome = service.execute_modification(first.modification_id)
    assert outcome.status == "UNKNOWN" and "MAY have been applied" in (outcome.message or "")
    assert sim.modification_count == 1 and sim_order(sim, service, order_id).lmt_price == D("186")
    for modification_id, code in ((first.modification_id, ErrorCode.ALREADY_EXECUTED),
                                  (second.modification_id, ErrorCode.ORDER_NOT_MODIFIABLE)):
        with pytest.raises(TradeError) as caught:
            service.execute_modification(modification_id)
        assert caught.value.code is code
    assert sim.modification_count == 1  # nothing was re-sent, and nothing else was sent over it
    with session_factory() as session:
        statuses = {str(r.id): r.status for r in session.execute(select(TradeModification)).scalars()}
    assert statuses[second.modification_id] is ModificationStatus.ACTIVE  # refused: the order is not as it showed
    assert statuses[first.modification_id] in (ModificationStatus.UNKNOWN, ModificationStatus.APPLIED)
    assert "MODIFICATION_OUTCOME_UNKNOWN" in event_types(session_factory, order_id)

    def applied() -> bool:  # after the reconnect the gateway reports the order with its new limit
        service.get_order_status(order_id)
        with session_factory() as session:
            row = session.get(TradeModification, uuid.UUID(first.modification_id))
            return row is not None and row.status is ModificationStatus.APPLIED

    wait_until(applied, timeout=15, interval=0.2, what="the broker's report settling the UNKNOWN modification")
    assert service.get_order_status(order_id).limit_price == D(186)
    assert sim.modification_count == 1 and "MODIFICATION_APPLIED" in event_types(session_factory, order_id)
    third = service.preview_modification(order_id, limit_price="188")  # the order can be changed again
    assert service.execute_modification(third.modification_id).status == "APPLIED"


@pytest.mark.parametrize(("terms", "change", "expect"), [
    ({"order_type": "Stop", "stop_price": "195.00"}, {"stop_price": "196"}, {"aux_price": D(196)}),
    ({"order_type": "StopLimit", "stop_price": "195.00", "limit_price": "196.00"},
     {"stop_price": "194", "limit_price": "195"}, {"aux_price": D(194), "lmt_price": D(195)}),
    ({"order_type": "TrailingStop", "trailing_amount": "2"}, {"trailing_percent": "1.5"},
     {"aux_price": None, "trailing_percent": D("1.5")}),
])
def test_stops_and_trailing_stops_waiting_presubmitted_are_modified(
    terms: dict[str, str], change: dict[str, str], expect: dict[str, Any], sim: IBGatewaySimulator,
    service: TradeExecutionService,
) -> None:
    sim.auto_fill = False
    side = "SELL" if terms["order_type"] == "TrailingStop" else "BUY"
    if side == "SELL":
        buy = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "10").preview_id)
        sim.fill(sim_order(sim, service, buy.order_id).order_id, quantity=10, price="190.00")
        wait_until(lambda: service.get_order_status(buy.order_id).status == "EXECUTED", what="the shares")
    order = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", side, "10", **terms).preview_id)
    assert order.status == "PENDING"  # waiting for its trigger
    view = service.execute_modification(service.preview_modification(order.order_id, **change).modification_id)
    assert view.status == "APPLIED" and view.order is not None and view.order.status == "PENDING"
    booked = sim_order(sim, service, order.order_id)
    assert {name: getattr(booked, name) for name in expect} == expect
    assert booked.status == "PreSubmitted" and sim.modification_count == 1


def test_an_unknown_modification_id_points_to_preview_modification(
    sim: IBGatewaySimulator, service: TradeExecutionService,
) -> None:
    (result,) = mcp_calls(service, Human(), ("execute_modification",
                                             {"modification_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}))
    refusal = error_of(result)
    assert refusal["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert "preview_modification" in refusal["details"]["fix"] and "preview_trade" not in refusal["message"]


def test_a_brackets_stop_loss_moves_and_its_quantity_stays(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, "Limit", "180", take_profit_price="200",
                                    stop_loss_price="170")
    entry, _take_profit, stop_loss = service.execute_trade(preview.preview_id).order_ids or []
    assert entry and stop_loss
    moved = service.preview_modification(stop_loss, stop_price="172")  # the entry has not filled: no shares yet
    assert (moved.side, moved.order_type, moved.old_terms["stop_price"]) == ("SELL", "Stop", "170")
    applied = service.execute_modification(moved.modification_id)
    assert applied.status == "APPLIED" and applied.order is not None and applied.order.stop_price == D(172)
    booked = sim_order(sim, service, stop_loss)
    assert booked.aux_price == D(172) and booked.parent_id == sim_order(sim, service, entry).order_id
    assert service.get_order_status(stop_loss).order_type == "Stop"
    with pytest.raises(TradeError) as caught:
        service.preview_modification(stop_loss, quantity=6)
    assert caught.value.code is ErrorCode.UNSUPPORTED_ORDER and "share one quantity" in caught.value.message
