"""The life of an order after placement, through the real SDK, the simulator and PostgreSQL.

FAILED 'not found' is an inference that the broker may contradict; a fill overrides every
belief; a placement in flight is never settled; an identical order placed later is not ours;
numbers are kept at the broker's precision; what cannot settle is flagged, not left silent.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from snaptrade_client import SnapTrade, SnapTradeAuth
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent
from services.trade_execution import TradeExecutionService
from tests.ibkr.conftest import wait_until
from tests.snaptrade.conftest import CLIENT_ID, TRADE_PATH, USER_ID, ServiceFactory, World, order_row
from tests.support.backdate import backdate_orders


def events(factory: sessionmaker[Session], order_id: str) -> list[TradeEvent]:
    with factory() as session:
        rows = session.execute(
            select(TradeEvent).where(TradeEvent.order_id == uuid.UUID(order_id)).order_by(TradeEvent.id)
        ).scalars()
        return list(rows)


def event_types(factory: sessionmaker[Session], order_id: str) -> list[str]:
    return [e.event_type for e in events(factory, order_id)]


def lost_placement(world: World, service: TradeExecutionService, *args: Any, booked: bool = True) -> str:
    """An execute whose answer is lost (500 after, or instead of, booking): the row is UNKNOWN."""
    preview = service.preview_trade(world.paper, *args)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500, process=booked)
    order = service.execute_trade(preview.preview_id)
    assert order.status == "UNKNOWN"
    return order.order_id


def only_order(world: World) -> str:
    (booked,) = world.sim.orders(world.paper)
    return str(booked["brokerage_order_id"])


# --- issue 10.4: FAILED from "not found" is not final --------------------------------------------
def test_settings_refuse_a_settle_window_shorter_than_the_broker_timeout(world: World) -> None:
    with pytest.raises(ValidationError, match="RECONCILE_SETTLE_SECONDS"):
        world.settings(RECONCILE_SETTLE_SECONDS=0)
    with pytest.raises(ValidationError, match="broker timeout"):
        world.settings(RECONCILE_SETTLE_SECONDS=14, SNAPTRADE_TIMEOUT_SECONDS=15)
    assert world.settings(RECONCILE_SETTLE_SECONDS=15, SNAPTRADE_TIMEOUT_SECONDS=15).reconcile_settle_seconds == 15


def test_failed_because_the_list_lagged_is_corrected_when_the_order_shows_up(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order_id = lost_placement(world, service, "AAPL", "BUY", 2)
    world.sim.hide_order(only_order(world))  # the brokerage's list lags behind the booking
    backdate_orders(session_factory, [order_id])  # ... past the settle window
    assert service.reconcile().failed == [order_id]
    row = order_row(session_factory, order_id)
    assert row.status == "FAILED" and row.error_code == "NOT_FOUND_AT_BROKER" and row.recheck_until is not None

    again = service.reconcile()  # still missing: re-checked, and no new event for a change that is not one
    assert again.rechecked == [order_id] and again.failed == []
    assert event_types(session_factory, order_id).count("ORDER_NOT_FOUND") == 1

    world.sim.hide_order(only_order(world), hidden=False)
    status = service.get_order_status(order_id)  # a status request re-checks it too
    assert status.status == "EXECUTED" and status.filled_quantity == 2 and status.error_code is None
    row = order_row(session_factory, order_id)
    assert row.brokerage_order_id == only_order(world) and row.recheck_until is None
    [corrected] = [e for e in events(session_factory, order_id) if e.event_type == "ORDER_CORRECTED"]
    assert corrected.payload["changes"]["corrected"]["believed"] == "FAILED"
    assert corrected.payload["changes"]["corrected"]["broker_says"] == "EXECUTED"
    assert world.sim.placed_order_count == 1 and len(world.placements()) == 1


def test_the_reconcile_run_corrects_a_failed_order_too(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order_id = lost_placement(world, service, "AAPL", "BUY", 1, "Limit", "185")
    world.sim.hide_order(only_order(world))
    backdate_orders(session_factory, [order_id])
    assert service.reconcile().failed == [order_id]
    world.sim.hide_order(only_order(world), hidden=False)
    report = service.reconcile()
    assert report.corrected == {order_id: "FAILED->ACCEPTED"} and report.settled == {order_id: "ACCEPTED"}
    assert service.cancel_order(order_id).status == "CANCELED"  # a working order again, cancelable


def test_reconcile_never_settles_a_placement_still_in_flight(
    world: World, make_service: ServiceFactory, session_factory: sessionmaker[Session]
) -> None:
    service = make_service(SNAPTRADE_TIMEOUT_SECONDS=10, RECONCILE_SETTLE_SECONDS=10)
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 3)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500, hang_seconds=3)  # then not booked
    answers: list[Any] = []
    placing = threading.Thread(target=lambda: answers.append(service.execute_trade(preview.preview_id)))
    placing.start()
    wait_until(world.placements, what="the placement to reach the simulator")
    [order_id] = [str(r.id) for r in _rows(session_factory)]
    other_process = make_service(SNAPTRADE_TIMEOUT_SECONDS=10, RECONCILE_SETTLE_SECONDS=10).reconcile()
    assert other_process.still_unknown == [order_id] and other_process.failed == []  # younger than the timeout
    backdate_orders(session_factory, [order_id])  # even looking older than the settle window
    mine = service.reconcile()
    placing.join(30)
    assert mine.skipped == [order_id] and mine.failed == []  # in flight in this process: left alone
    assert answers[0].status == "UNKNOWN" and order_row(session_factory, order_id).status == "UNKNOWN"


def _rows(factory: sessionmaker[Session]) -> list[Any]:
    from db.models import TradeOrder

    with factory() as session:
        return list(session.execute(select(TradeOrder)).scalars())


# --- issue 11.1: a fill overrides everything -----------------------------------------------------
def test_a_fill_after_a_reported_rejection_corrects_the_order(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order_id = lost_placement(world, service, "AAPL", "BUY", 4, "Limit", "185")
    world.sim.set_order_status(only_order(world), "REJECTED")
    assert service.reconcile().settled == {order_id: "REJECTED"}
    assert order_row(session_factory, order_id).recheck_until is not None  # a report, not our refusal

    world.sim.late_fill(only_order(world), price="184.50")
    report = service.reconcile(include_active=True)
    assert report.corrected == {order_id: "REJECTED->EXECUTED"}
    row = order_row(session_factory, order_id)
    assert row.status == "EXECUTED" and row.filled_quantity == 4 and row.average_fill_price == Decimal("184.5")
    [corrected] = [e for e in events(session_factory, order_id) if e.event_type == "ORDER_CORRECTED"]
    assert corrected.payload["changes"]["corrected"]["believed"] == "REJECTED"
    assert corrected.payload["changes"]["corrected"]["broker_says"] == "EXECUTED"
    assert corrected.payload["broker"]["status"] == "EXECUTED"


# --- issue 11.3: never claim an order placed after ours ---------------------------------------------
def human_places(world: World, ticker: str, units: int) -> str:
    """The account holder places an order in the brokerage's app (here: the force-order endpoint)."""
    client = SnapTrade(auth=SnapTradeAuth.commercial_api_key(consumer_key=world.consumer_key, client_id=CLIENT_ID),
                       host=world.sim.base_url)
    body = client.trading.place_force_order(
        user_id=USER_ID, user_secret=world.user_secret, account_id=world.paper, action="BUY",
        universal_symbol_id=world.symbols[ticker], order_type="Market", time_in_force="Day", units=float(units),
    ).body
    return str(body["brokerage_order_id"])


def test_an_identical_order_placed_by_hand_later_is_not_claimed(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order_id = lost_placement(world, service, "AAPL", "BUY", 5, booked=False)  # dropped before processing
    assert world.sim.placed_order_count == 0
    world.sim.advance_clock(120)  # two minutes later the human places the same order by hand
    manual = human_places(world, "AAPL", 5)
    report = service.reconcile()
    assert report.settled == {} and report.still_unknown == [order_id]
    row = order_row(session_factory, order_id)
    assert row.status == "UNKNOWN" and row.brokerage_order_id is None
    backdate_orders(session_factory, [order_id])
    assert service.reconcile().failed == [order_id]  # never claimed, even once the window has passed
    assert order_row(session_factory, order_id).brokerage_order_id is None
    assert world.sim.order(manual)["status"] == "EXECUTED"


def test_an_order_booked_during_the_placement_is_still_found(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order_id = lost_placement(world, service, "AAPL", "BUY", 5)
    world.sim.advance_clock(120)
    manual = human_places(world, "AAPL", 5)  # a later identical order does not make ours ambiguous
    assert service.reconcile().settled == {order_id: "EXECUTED"}
    ours = order_row(session_factory, order_id).brokerage_order_id
    assert ours is not None and ours != manual
    assert {o["brokerage_order_id"] for o in world.sim.orders(world.paper)} == {ours, manual}


# --- issue 12: a broker order another row owns is never claimed --------------------------------
def test_a_broker_order_another_row_owns_is_not_claimed_again(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    first = lost_placement(world, service, "AAPL", "BUY", 1)
    assert service.reconcile().settled == {first: "EXECUTED"}
    second = lost_placement(world, service, "AAPL", "BUY", 1, booked=False)
    backdate_orders(session_factory, [first], seconds=2 * 3600)  # older than the known-orders look-back
    report = service.reconcile()
    assert report.settled == {} and report.failed == []
    [error] = report.errors
    assert error["order_id"] == second and f"already belongs to order {first}" in error["message"]
    assert order_row(session_factory, second).brokerage_order_id is None
    assert order_row(session_factory, first).brokerage_order_id == only_order(world)


# --- issue 11.4: precision, STOPPED, missing orders, edited quantities ------------------------------
def resting(world: World, service: TradeExecutionService, quantity: Any = 2) -> Any:
    order = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", quantity, "Limit", "185")
                                  .preview_id)
    assert order.status == "ACCEPTED"
    return order


def test_fills_are_kept_at_the_brokers_precision_and_polls_log_no_phantom_changes(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order = resting(world, service, 1)
    world.sim.fill(str(order.brokerage_order_id), quantity="0.1234567841", price="184.123457")
    for _ in range(3):
        assert service.get_order_status(order.order_id).status == "PARTIAL"
    row = order_row(session_factory, order.order_id)
    assert row.filled_quantity == Decimal("0.1234567841")
    assert row.average_fill_price == Decimal("184.123457")
    assert event_types(session_factory, order.order_id).count("ORDER_RECONCILED") == 1
    service.reconcile(include_active=True)
    assert event_types(session_factory, order.order_id).count("ORDER_RECONCILED") == 1


def test_stopped_is_final(world: World, service: TradeExecutionService) -> None:
    order = resting(world, service)
    world.sim.set_order_status(str(order.brokerage_order_id), "STOPPED")
    assert service.get_order_status(order.order_id).status == "CANCELED"
    assert order.order_id not in {o.order_id for o in service.get_orders(world.paper, state="open")}
    assert service.reconcile(include_active=True).examined == 0  # nothing left to settle or poll


def test_an_order_missing_from_the_broker_is_flagged_with_the_evidence(
    world: World, make_service: ServiceFactory, session_factory: sessionmaker[Session]
) -> None:
    service = make_service(RECONCILE_MISSING_SECONDS=0)
    order = resting(world, service)
    world.sim.hide_order(str(order.brokerage_order_id))
    first = service.reconcile(include_active=True)
    assert first.flagged == {} and first.settled == {order.order_id: "ACCEPTED"}
    assert service.reconcile(include_active=True).flagged == {order.order_id: "MISSING_AT_BROKER"}
    assert service.reconcile(include_active=True).flagged == {}  # flagged once, not on every poll
    status = service.get_order_status(order.order_id)
    assert status.attention == "MISSING_AT_BROKER" and status.status == "ACCEPTED"
    [flag] = [e for e in events(session_factory, order.order_id) if e.event_type == "ORDER_MISSING_AT_BROKER"]
    assert flag.payload["brokerage_order_id"] == order.brokerage_order_id and flag.payload["missing_since"]
    assert event_types(session_factory, order.order_id).count("ORDER_NOT_LISTED") == 1

    world.sim.hide_order(str(order.brokerage_order_id), hidden=False)  # it was there after all
    service.reconcile(include_active=True)
    assert service.get_order_status(order.order_id).attention is None


def test_a_quantity_edited_at_the_broker_then_overfilled_is_recorded_and_flagged(
    world: World, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    order = resting(world, service, 2)
    world.sim.set_order_quantity(str(order.brokerage_order_id), 3)  # edited in the brokerage's app
    service.reconcile(include_active=True)
    [changed] = [e for e in events(session_factory, order.order_id) if e.event_type == "ORDER_QUANTITY_CHANGED"]
    assert changed.payload["confirmed_quantity"] == "2" and changed.payload["broker_quantity"] == "3"
    world.sim.fill(str(order.brokerage_order_id))
    report = service.reconcile(include_active=True)
    assert report.flagged == {order.order_id: "OVERFILLED"}
    row = order_row(session_factory, order.order_id)
    assert row.status == "EXECUTED" and row.filled_quantity == 3 and row.attention == "OVERFILLED"
    [over] = [e for e in events(session_factory, order.order_id) if e.event_type == "ORDER_OVERFILLED"]
    assert over.payload["confirmed_quantity"] == "2" and over.payload["filled_quantity"] == "3"
