"""A placement whose answer is lost is never sent twice; reconciliation settles it from the order list."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeOrder
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import TRADE_PATH, ServiceFactory, World, order_row
from tests.support.backdate import backdate_orders


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_error_answer_not_processed_is_unknown_then_failed_after_the_window(
    world: World, make_service: ServiceFactory, status: int, session_factory: sessionmaker[Session]
) -> None:
    service = make_service()
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 2)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=status, headers={"Retry-After": "1"})
    order = service.execute_trade(preview.preview_id)
    assert order.status == "UNKNOWN" and order.error_code == "ORDER_OUTCOME_UNKNOWN"
    assert len(world.placements()) == 1 and world.sim.placed_order_count == 0
    assert service.reconcile().still_unknown == [order.order_id]  # inside the settle window
    backdate_orders(session_factory, [order.order_id])
    report = service.reconcile()
    assert report.failed == [order.order_id]  # not in the order list after the settle window
    assert len(world.placements()) == 1


def test_a_429_after_the_order_was_booked_is_settled_by_reconciliation(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 2)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=429, process=True,
                           headers={"Retry-After": "1"})
    order = service.execute_trade(preview.preview_id)
    assert order.status == "UNKNOWN" and order.brokerage_order_id is None
    assert world.sim.placed_order_count == 1 and len(world.placements()) == 1
    report = service.reconcile()
    assert report.settled == {order.order_id: "EXECUTED"}
    (booked,) = world.sim.orders(world.paper)
    row = order_row(session_factory, order.order_id)
    assert row.brokerage_order_id == booked["brokerage_order_id"] and row.filled_quantity == Decimal(2)
    assert world.sim.placed_order_count == 1 and len(world.placements()) == 1


def test_a_timeout_on_placement_is_unknown_fast_and_settled_without_a_second_order(
    world: World, make_service: ServiceFactory
) -> None:
    service = make_service(SNAPTRADE_TIMEOUT_SECONDS=2.0)
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 3, "Limit", "185")
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=None, process=True, hang_seconds=30)
    started = time.monotonic()
    order = service.execute_trade(preview.preview_id)
    assert time.monotonic() - started < 15  # bounded by the timeout, not by the hang
    assert order.status == "UNKNOWN" and "within 2 s" in (order.error_message or "")
    assert world.sim.placed_order_count == 1 and len(world.placements()) == 1
    assert service.reconcile().settled == {order.order_id: "ACCEPTED"}
    assert service.get_order_status(order.order_id).status == "ACCEPTED"
    assert service.cancel_order(order.order_id).status == "CANCELED"
    assert world.sim.placed_order_count == 1 and len(world.placements()) == 1


def test_connection_refused_means_nothing_was_sent(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.stop()
    with pytest.raises(TradeError) as down:  # the execute-time holdings check cannot ask: nothing is sent
        service.execute_trade(preview.preview_id)
    assert down.value.code is ErrorCode.BROKER_UNAVAILABLE and "could not connect" in down.value.message
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(TradeOrder)).scalar_one() == 0
    assert world.sim.placed_order_count == 0


def test_identical_lost_orders_are_not_guessed(world: World, service: TradeExecutionService) -> None:
    lost = []
    for _ in range(2):
        preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
        world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=502, process=True)
        lost.append(service.execute_trade(preview.preview_id).order_id)
    report = service.reconcile()
    assert sorted(e["order_id"] for e in report.errors) == sorted(lost)
    assert all(e["error_code"] == "BROKER_ERROR" and "2 SnapTrade orders match" in e["message"] for e in report.errors)
    assert all(service.get_order_status(o).status == "UNKNOWN" for o in lost)
    assert world.sim.placed_order_count == 2


def test_an_order_another_row_owns_is_not_claimed(world: World, service: TradeExecutionService) -> None:
    first = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 1).preview_id)
    assert first.status == "EXECUTED"
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500, process=True)
    second = service.execute_trade(preview.preview_id)
    assert second.status == "UNKNOWN"
    assert service.reconcile().settled == {second.order_id: "EXECUTED"}
    settled = service.get_order_status(second.order_id)
    assert settled.brokerage_order_id not in (None, first.brokerage_order_id)
    assert {o["brokerage_order_id"] for o in world.sim.orders(world.paper)} == {
        first.brokerage_order_id, settled.brokerage_order_id}
