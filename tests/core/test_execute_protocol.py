"""The exactly-once execute protocol: concurrency, crash points, outcomes, reconciliation."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import BrokerRefused, ErrorCode, NothingSent, TradeError
from brokers.models import BrokerProvider, OrderStatus
from db.models import TradeEvent, TradeOrder, TradePreview
from services.order_store import utcnow
from services.trade_execution import Checkpoint, TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.support.backdate import backdate_orders
from tests.support.memory_broker import MemoryBroker, lose_answer


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing in the service catches a BaseException."""


def crash_at(point: str) -> Checkpoint:
    def checkpoint(reached: str) -> None:
        if reached == point:
            raise SimulatedCrash(point)

    return checkpoint


def events(factory: sessionmaker[Session], **where: object) -> list[str]:
    with factory() as s:
        stmt = select(TradeEvent.event_type).order_by(TradeEvent.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(TradeEvent, key) == value)
        return list(s.execute(stmt).scalars())


def order_rows(factory: sessionmaker[Session]) -> list[TradeOrder]:
    with factory() as s:
        return list(s.execute(select(TradeOrder)).scalars())


def test_preview_then_execute_places_once_and_records_the_trail(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade("DU111", "aapl", "buy", 10)
    assert preview.status == "ACTIVE" and preview.ticker == "AAPL"
    assert preview.estimated_total == Decimal("1901.00")  # 10 x 190.00 + 1.00 commission
    assert "BUY 10 AAPL Market Day" in preview.summary
    order = service.execute_trade(preview.preview_id)
    assert order.status == "EXECUTED" and order.filled_quantity == Decimal(10)
    assert broker.place_calls == 1 and broker.count_for_ref(order.client_order_ref or "") == 1
    trail = events(session_factory, preview_id=uuid.UUID(preview.preview_id))
    assert trail == ["PREVIEW_CREATED", "EXECUTE_REQUESTED", "ORDER_SUBMITTING", "ORDER_SUBMITTED"]
    with pytest.raises(TradeError) as again:
        service.execute_trade(preview.preview_id)
    assert again.value.code is ErrorCode.ALREADY_EXECUTED
    assert broker.place_calls == 1


def test_fifty_threads_one_placement(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    barrier = threading.Barrier(50)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            return service.execute_trade(preview.preview_id).status
        except TradeError as exc:
            return exc.code.value

    with ThreadPoolExecutor(50) as pool:
        outcomes = Counter(pool.map(attempt, range(50)))
    assert outcomes == Counter({"EXECUTED": 1, "ALREADY_EXECUTED": 49})
    assert broker.place_calls == 1
    assert len(order_rows(session_factory)) == 1


def test_two_service_instances_sharing_the_database_place_once(
    make_service: ServiceFactory, broker: MemoryBroker
) -> None:
    first, second = make_service(), make_service()
    preview = first.preview_trade("DU111", "AAPL", "BUY", 2)
    barrier = threading.Barrier(20)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            return (first if i % 2 else second).execute_trade(preview.preview_id).status
        except TradeError as exc:
            return exc.code.value

    with ThreadPoolExecutor(20) as pool:
        outcomes = Counter(pool.map(attempt, range(20)))
    assert outcomes == Counter({"EXECUTED": 1, "ALREADY_EXECUTED": 19})
    assert broker.place_calls == 1


def test_crash_after_intent_commit_before_broker_call(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    doomed = make_service(checkpoint=crash_at("after_intent_commit"))
    preview = doomed.preview_trade("DU111", "AAPL", "BUY", 3)
    with pytest.raises(SimulatedCrash):
        doomed.execute_trade(preview.preview_id)
    [row] = order_rows(session_factory)
    assert row.status == "SUBMITTING" and broker.place_calls == 0

    patient = make_service(RECONCILE_SETTLE_SECONDS=3600)
    report = patient.start()
    assert report.still_unknown == [str(row.id)]  # inside the settle window nothing is declared failed

    backdate_orders(session_factory)  # the settle window has passed
    fresh = make_service()
    report = fresh.start()
    assert report.failed == [str(row.id)]
    [row] = order_rows(session_factory)
    assert row.status == "FAILED" and row.error_code == "NOT_FOUND_AT_BROKER"
    assert broker.place_calls == 0 and broker.count_for_ref(row.client_order_ref or "") == 0
    assert "ORDER_NOT_FOUND" in events(session_factory, order_id=row.id)
    with pytest.raises(TradeError) as again:
        fresh.execute_trade(preview.preview_id)
    assert again.value.code is ErrorCode.ALREADY_EXECUTED and broker.place_calls == 0


def test_crash_after_broker_call_before_outcome_recorded(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    doomed = make_service(checkpoint=crash_at("after_broker_call"))
    preview = doomed.preview_trade("DU111", "AAPL", "BUY", 4)
    with pytest.raises(SimulatedCrash):
        doomed.execute_trade(preview.preview_id)
    [row] = order_rows(session_factory)
    assert row.status == "SUBMITTING" and broker.place_calls == 1

    backdate_orders(session_factory)
    fresh = make_service()
    report = fresh.start()
    assert report.settled == {str(row.id): "EXECUTED"}
    [row] = order_rows(session_factory)
    assert row.status == "EXECUTED" and row.filled_quantity == Decimal(4) and row.brokerage_order_id
    assert broker.place_calls == 1 and broker.count_for_ref(row.client_order_ref or "") == 1
    assert "ORDER_RECONCILED" in events(session_factory, order_id=row.id)


def test_lost_answer_is_unknown_then_reconciled(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    broker.place_fault = lose_answer
    preview = service.preview_trade("DU111", "AAPL", "BUY", 5)
    order = service.execute_trade(preview.preview_id)
    assert order.status == "UNKNOWN" and order.error_code == "ORDER_OUTCOME_UNKNOWN"
    broker.place_fault = None
    settled = service.get_order_status(order.order_id)
    assert settled.status == "EXECUTED" and settled.brokerage_order_id is not None
    assert broker.place_calls == 1


def test_broker_rejection_is_final_and_reported(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    broker.place_error = BrokerRefused("Order rejected - reason: test")
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.BROKER_REJECTED and err.value.details["status"] == "REJECTED"
    [row] = order_rows(session_factory)
    assert row.status == "REJECTED" and str(row.id) == err.value.details["order_id"]
    assert service.reconcile().examined == 0  # final: nothing left to settle


def test_unavailable_before_sending_fails_without_placing(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    broker.unavailable = True  # the execute-time buying-power check cannot ask: refused, preview not consumed
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.BROKER_UNAVAILABLE
    assert order_rows(session_factory) == [] and broker.place_calls == 0
    broker.unavailable = False
    broker.place_error = NothingSent("the connection was down; nothing was sent")
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.BROKER_UNAVAILABLE
    [row] = order_rows(session_factory)
    assert row.status == "FAILED" and len(broker.orders) == 0


def test_expired_preview_is_refused_and_marked(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    with session_factory.begin() as s:
        s.execute(update(TradePreview).values(expires_at=utcnow()))
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.PREVIEW_EXPIRED
    with pytest.raises(TradeError) as again:
        service.execute_trade(preview.preview_id)
    assert again.value.code is ErrorCode.PREVIEW_EXPIRED
    assert broker.place_calls == 0 and order_rows(session_factory) == []


def test_unknown_preview_ids(service: TradeExecutionService) -> None:
    for bad in (str(uuid.uuid4()), "not-a-uuid", None, 12, "'; DROP TABLE trade_orders; --"):
        with pytest.raises(TradeError) as err:
            service.execute_trade(bad)
        assert err.value.code is ErrorCode.PREVIEW_NOT_FOUND


def test_cancel_a_resting_order_then_refuse_a_second_cancel(
    service: TradeExecutionService, broker: MemoryBroker
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1, "Limit", limit_price="185.50")
    order = service.execute_trade(preview.preview_id)
    assert order.status == "ACCEPTED"
    assert [o.order_id for o in service.get_orders("DU111", state="open")] == [order.order_id]
    canceled = service.cancel_order(order.order_id)
    assert canceled.status == "CANCELED"
    assert service.get_orders("DU111", state="open") == []
    with pytest.raises(TradeError) as err:
        service.cancel_order(order.order_id)
    assert err.value.code is ErrorCode.ORDER_NOT_CANCELABLE
    with pytest.raises(TradeError) as missing:
        service.cancel_order(str(uuid.uuid4()))
    assert missing.value.code is ErrorCode.ORDER_NOT_FOUND


def test_pushed_updates_never_move_an_order_backwards(
    service: TradeExecutionService, broker: MemoryBroker
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 2, "Limit", limit_price="189")
    order = service.execute_trade(preview.preview_id)
    booked = broker.orders[order.brokerage_order_id or ""]
    filled = booked.model_copy(update={"status": OrderStatus.EXECUTED, "filled_quantity": Decimal(2),
                                       "remaining_quantity": Decimal(0), "average_fill_price": Decimal("188.9")})
    service.handle_order_update(BrokerProvider.IBKR, filled)
    service.handle_order_update(BrokerProvider.IBKR, booked)  # a stale 'Submitted' arriving late
    final = service.get_order_status(order.order_id)
    assert final.status == "EXECUTED" and final.filled_quantity == Decimal(2)
    assert final.average_fill_price == Decimal("188.9")


@pytest.mark.parametrize(
    ("point", "placed", "final"),
    [
        ("before_intent_commit", 0, None),  # the intent never committed: no row, and the preview is still usable
        ("after_intent_commit", 0, "FAILED"),
        ("after_broker_call", 1, "EXECUTED"),
        ("before_outcome_commit", 1, "EXECUTED"),
    ],
)
def test_every_crash_point_ends_with_the_truth(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session],
    point: str, placed: int, final: str | None,
) -> None:
    doomed = make_service(checkpoint=crash_at(point))
    preview = doomed.preview_trade("DU111", "AAPL", "BUY", 1)
    with pytest.raises(SimulatedCrash):
        doomed.execute_trade(preview.preview_id)
    backdate_orders(session_factory)
    fresh = make_service()
    fresh.start()
    rows = order_rows(session_factory)
    assert broker.place_calls == placed
    if final is None:
        assert rows == []
        assert fresh.execute_trade(preview.preview_id).status == "EXECUTED"
        assert broker.place_calls == 1
    else:
        assert [r.status for r in rows] == [final]
        assert broker.count_for_ref(rows[0].client_order_ref or "") == placed


def test_reconcile_including_active_orders_picks_up_changes_made_at_the_broker(
    service: TradeExecutionService, broker: MemoryBroker
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 1, "Limit", limit_price="185")
    order = service.execute_trade(preview.preview_id)
    assert order.status == "ACCEPTED"
    broker.cancel_order("DU111", order.brokerage_order_id or "")  # canceled by hand in the broker's own app
    assert service.reconcile().examined == 0  # by default only SUBMITTING/UNKNOWN rows are settled
    report = service.reconcile(include_active=True)
    assert report.settled == {order.order_id: "CANCELED"}
