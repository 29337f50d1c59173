"""The whole flow through TradeExecutionService, over real sockets to the simulated gateway."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from db.models import TradeOrder
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import (
    ACCOUNT,
    event_types,
    make_manager,
    make_settings,
    order_row,
    placed_orders,
    wait_until,
)
from tests.support.backdate import backdate_orders

D = Decimal

# AAPL trades at 189.99 / 190.01 (last 190.00) in the simulator.
ORDER_TYPES: dict[str, dict[str, Any]] = {
    "Market": {},
    "Limit": {"limit_price": "185.00"},
    "Stop": {"stop_price": "195.00"},
    "StopLimit": {"stop_price": "195.00", "limit_price": "196.00"},
}


def _preview(service: TradeExecutionService, order_type: str = "Market", quantity: str = "10",
             ticker: str = "AAPL", side: str = "BUY", **prices: Any) -> str:
    view = service.preview_trade(ACCOUNT, ticker, side, quantity, order_type=order_type, **prices)
    return view.preview_id


def _sim_order(sim: IBGatewaySimulator, ref: str | None) -> Any:
    return next(o for o in sim.orders if o.order_ref == ref)


@pytest.mark.parametrize("order_type", list(ORDER_TYPES))
def test_preview_execute_fill_cancel(order_type: str, sim: IBGatewaySimulator, service: TradeExecutionService,
                                     session_factory: sessionmaker[Session]) -> None:
    sim.auto_fill = False  # orders rest until the test fills them
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type=order_type, **ORDER_TYPES[order_type])
    assert preview.estimated_commission == D("1.00")
    terms = ORDER_TYPES[order_type]  # the price the total uses: the order's own limit, else its stop, else the quote
    assert preview.estimated_price == D(terms.get("limit_price", terms.get("stop_price", "190.00")))
    assert preview.impact["checks_passed"]

    view = service.execute_trade(preview.preview_id)
    expected = "PENDING" if order_type.startswith("Stop") else "ACCEPTED"  # stops wait PreSubmitted
    assert view.status == expected and view.brokerage_order_id
    booked = _sim_order(sim, view.client_order_ref)
    assert booked.order_type == {"Market": "MKT", "Limit": "LMT", "Stop": "STP", "StopLimit": "STP LMT"}[order_type]
    assert booked.account == ACCOUNT and str(booked.perm_id) == view.brokerage_order_id

    sim.fill(booked.order_id, quantity=4, price="190.00")  # a fill after execute returned
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).commission is not None and r,
                     what="the pushed partial fill and its commission report")
    assert row.status == "PARTIAL" and row.filled_quantity == 4
    assert row.average_fill_price == D("190.00") and row.commission == D("1.00")

    canceled = service.cancel_order(view.order_id)
    assert canceled.status == "CANCELED" and canceled.filled_quantity == 4
    assert _sim_order(sim, view.client_order_ref).status == "Cancelled"
    assert len(placed_orders(sim)) == 1
    assert {"ORDER_SUBMITTING", "ORDER_SUBMITTED", "ORDER_UPDATED", "CANCEL_REQUESTED", "CANCEL_RESULT"} <= set(
        event_types(session_factory, view.order_id))


def test_market_order_fills_with_commission(sim: IBGatewaySimulator, service: TradeExecutionService,
                                            session_factory: sessionmaker[Session]) -> None:
    view = service.execute_trade(_preview(service))
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).commission is not None and r,
                     what="the fill and its commission report")
    assert row.status == "EXECUTED" and row.filled_quantity == 10 and row.average_fill_price == D("190.01")
    assert row.commission == D("1.00")
    assert row.remaining_quantity == 0
    with pytest.raises(TradeError) as caught:
        service.cancel_order(view.order_id)
    assert caught.value.code is ErrorCode.ORDER_NOT_CANCELABLE
    assert service.get_order_status(view.order_id).status == "EXECUTED"
    position = sim.account(ACCOUNT).positions["AAPL"]
    assert position.quantity == 10


def test_fill_arriving_after_execute_returned_is_recorded(sim: IBGatewaySimulator, service: TradeExecutionService,
                                                         session_factory: sessionmaker[Session]) -> None:
    sim.delay_fills_ms = 300
    view = service.execute_trade(_preview(service))
    assert view.status == "ACCEPTED"  # returned before the fill
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).commission is not None and r,
                     what="the late fill and its commission report")
    assert row.status == "EXECUTED" and row.filled_quantity == 10 and row.commission == D("1.00")
    assert "ORDER_UPDATED" in event_types(session_factory, view.order_id)


def test_broker_rejection(sim: IBGatewaySimulator, service: TradeExecutionService,
                          session_factory: sessionmaker[Session]) -> None:
    preview_id = _preview(service, "Limit", limit_price="185.00")
    sim.reject_next_order("Simulated rejection for the test")
    with pytest.raises(TradeError) as caught:
        service.execute_trade(preview_id)
    error = caught.value
    assert error.code is ErrorCode.BROKER_REJECTED and "Simulated rejection" in error.message
    row = order_row(session_factory, error.details["order_id"])
    assert row.status == "REJECTED" and row.error_code == "BROKER_REJECTED"
    assert sim.placed_order_count == 0 and len(placed_orders(sim)) == 1  # sent once, refused, never retried


def test_unknown_symbol(service: TradeExecutionService, session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(TradeError) as caught:
        service.preview_trade(ACCOUNT, "NOPE", "BUY", "1")
    assert caught.value.code is ErrorCode.SYMBOL_NOT_FOUND
    assert event_types(session_factory) == ["PREVIEW_REFUSED"]
    assert service.search_symbol(ACCOUNT, "NOPE") == []


def test_connection_dropped_after_the_gateway_received_the_order(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview_id = _preview(service)
    sim.drop_connection_on_place("after_ack")  # booked (and filled) at the broker, the answer is lost
    view = service.execute_trade(preview_id)
    assert view.status == "UNKNOWN" and view.error_code == "ORDER_OUTCOME_UNKNOWN"
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).status == "EXECUTED" and r,
                     what="reconciliation after the reconnect")
    assert row.filled_quantity == 10 and row.brokerage_order_id == str(_sim_order(sim, view.client_order_ref).perm_id)
    assert sim.placed_order_count == 1 and len(placed_orders(sim)) == 1  # no second order reached the gateway
    # settled by reconciliation, or by the commission report its executions request pulled in first
    assert {"ORDER_RECONCILED", "ORDER_UPDATED"} & set(event_types(session_factory, view.order_id))


def test_connection_dropped_before_the_order_was_booked(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview_id = _preview(service, "Limit", limit_price="185.00")
    sim.drop_connection_on_place("before_ack")  # the gateway read the order and dropped it unbooked
    view = service.execute_trade(preview_id)
    assert view.status == "UNKNOWN"
    backdate_orders(session_factory, [view.order_id])  # past the settle window (never shorter than the timeout)

    def failed() -> TradeOrder | None:
        service.reconcile()  # errors while the gateway is still reconnecting; FAILED once it answers
        row = order_row(session_factory, view.order_id)
        return row if row.status == "FAILED" else None

    row = wait_until(failed, interval=0.2, what="reconciliation to find nothing")
    assert row.error_code == "NOT_FOUND_AT_BROKER"
    assert sim.placed_order_count == 0 and len(placed_orders(sim)) == 1


def test_slow_acknowledgement_is_unknown_then_settled_by_the_pushed_status(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, session_factory: sessionmaker[Session],
) -> None:
    impatient = IBKRBrokerAdapter(manager, ack_timeout=0.2)
    service = TradeExecutionService(make_settings(sim.port), session_factory, [impatient])
    try:
        preview_id = _preview(service, "Limit", limit_price="185.00")
        sim.delay_acks_ms = 800
        view = service.execute_trade(preview_id)
        assert view.status == "UNKNOWN"
        row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).status == "ACCEPTED" and r,
                         what="the late acknowledgement")
        assert row.brokerage_order_id and len(placed_orders(sim)) == 1
    finally:
        service.close()
        manager.shutdown()


def test_reconcile_settles_by_order_ref(sim: IBGatewaySimulator, service: TradeExecutionService,
                                       session_factory: sessionmaker[Session]) -> None:
    sim.auto_fill = False
    view = service.execute_trade(_preview(service, "Limit", limit_price="185.00"))
    assert service.reconcile().examined == 0
    status = service.get_order_status(view.order_id)
    assert status.status == "ACCEPTED" and not status.stale


def test_futures_options_and_index(sim: IBGatewaySimulator, service: TradeExecutionService,
                                   adapter: IBKRBrokerAdapter) -> None:
    future = service.preview_trade(ACCOUNT, "/MES", "BUY", "1", order_type="Limit", limit_price="4900.00")
    assert future.estimated_commission == D("0.62")
    assert adapter.search_symbol(ACCOUNT, "/MES")[0].sec_type == "FUT"
    option = f"SPY {sim.option_expiry()} 500 C"
    preview = service.preview_trade(ACCOUNT, option, "BUY", "1", order_type="Limit", limit_price="5.00")
    assert preview.estimated_price is not None
    quote = service.get_quote(ACCOUNT, "SPX")
    assert quote.last == D("5000.00") and quote.bid is None
    with pytest.raises(TradeError) as caught:
        service.preview_trade(ACCOUNT, "SPX", "BUY", "1")
    assert caught.value.code is ErrorCode.UNSUPPORTED_ORDER  # indexes are quotes only
    assert "sec_type='OPT'" in caught.value.message


def test_balances_and_positions(sim: IBGatewaySimulator, service: TradeExecutionService,
                                session_factory: sessionmaker[Session]) -> None:
    before = service.get_account_balance(ACCOUNT)
    assert before.net_liquidation == D("1000000.00") and before.cash == D("1000000.00")
    view = service.execute_trade(_preview(service))
    wait_until(lambda: order_row(session_factory, view.order_id).status == "EXECUTED", what="fill")
    positions = wait_until(lambda: service.get_positions(ACCOUNT), what="the position push")
    assert [(p.ticker, p.quantity) for p in positions] == [("AAPL", D(10))]
    after = wait_until(lambda: (b := service.get_account_balance(ACCOUNT)).cash != before.cash and b,
                       what="the balance refresh")
    assert after.cash == D("1000000.00") - D("1900.10") - D("1.00")


def test_thousand_previews_use_one_connection(sim: IBGatewaySimulator, service: TradeExecutionService) -> None:
    service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
    connections = sim.connection_count
    started = time.perf_counter()
    for _ in range(1000):
        service.preview_trade(ACCOUNT, "AAPL", "BUY", "1", order_type="Limit", limit_price="185.00")
    elapsed = time.perf_counter() - started
    assert sim.connection_count == connections == 1
    print(f"\n1000 previews through the service: {elapsed:.2f}s, {elapsed:.2f} ms each, 1 TCP connection")


def test_gateway_restart_is_invisible_to_the_next_call(sim: IBGatewaySimulator, service: TradeExecutionService,
                                                       manager: IBKRConnectionManager) -> None:
    service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
    sim.restart()  # every connection closed, the listener back on the same port
    again = service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")  # no wait, no retry by the caller
    assert again.estimated_price == D("190.00")
    assert manager.health().connections == 2


def test_client_id_in_use_through_the_service(sim: IBGatewaySimulator, service: TradeExecutionService,
                                              session_factory: sessionmaker[Session]) -> None:
    service.list_tradeable_accounts()  # the fixture's service holds client id 17
    clash = make_manager(sim.port)
    other = TradeExecutionService(make_settings(sim.port), session_factory, [IBKRBrokerAdapter(clash)])
    try:
        with pytest.raises(TradeError) as caught:
            other.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
        assert caught.value.code is ErrorCode.BROKER_UNAVAILABLE
        assert "client id 17" in caught.value.message and "already in use" in caught.value.message
        assert event_types(session_factory) == ["PREVIEW_REFUSED"]
    finally:
        other.close()
        clash.shutdown()


def test_a_placement_in_flight_stays_submitting_until_its_outcome_is_recorded(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter,
    session_factory: sessionmaker[Session],
) -> None:
    """If the process died right after the broker answered, reconciliation (which settles SUBMITTING
    rows) must still own the row: the acknowledgement is not pushed past the execute protocol."""
    sim.auto_fill = False
    seen: dict[str, str] = {}

    def checkpoint(point: str) -> None:
        if point == "after_broker_call":
            drained = threading.Event()
            manager.dispatch(drained.set)  # the event worker is FIFO: every earlier push is written
            assert drained.wait(5)
            with session_factory() as session:
                seen["status"] = session.execute(select(TradeOrder.status)).scalar_one()

    service = TradeExecutionService(make_settings(sim.port), session_factory, [adapter], checkpoint=checkpoint)
    try:
        view = service.execute_trade(_preview(service, "Limit", limit_price="185.00"))
        assert seen == {"status": "SUBMITTING"} and view.status == "ACCEPTED"
    finally:
        service.close()
        manager.shutdown()


@pytest.mark.parametrize(("change", "status"), [("fill", "EXECUTED"), ("cancel", "CANCELED")])
def test_a_change_made_while_disconnected_is_recorded_on_reconnect(
    change: str, status: str, sim: IBGatewaySimulator, manager: IBKRConnectionManager,
    service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    sim.auto_fill = False
    view = service.execute_trade(_preview(service, "Limit", limit_price="185.00"))
    assert view.status == "ACCEPTED"
    booked = _sim_order(sim, view.client_order_ref)
    sim.stop()
    wait_until(lambda: not manager.health().connected, what="the disconnect")
    getattr(sim, change)(booked.order_id)  # no client is there to hear about it
    sim.start()
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).status == status and r,
                     what="the replay after the reconnect")
    assert row.filled_quantity == (10 if change == "fill" else 0)
