"""executed_at / cancelled_at are stored when the status first becomes EXECUTED / CANCELED (te0006_order_times)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import create_engine, inspect, pool
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import BrokerProvider, OrderStatus
from db import migrate
from db.models import TradeOrder
from services.trade_execution import TradeExecutionService
from tests.core.test_migrations import _exec
from tests.support.database import fresh_test_database
from tests.support.memory_broker import MemoryBroker


def _stored(factory: sessionmaker[Session], order_id: str) -> tuple[datetime | None, datetime | None, datetime]:
    with factory() as session:
        row = session.get(TradeOrder, uuid.UUID(order_id))
        assert row is not None
        return row.executed_at, row.cancelled_at, row.updated_at


def test_fill_time_is_set_once_and_later_reports_do_not_move_it(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    order = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 2).preview_id)
    assert order.status == "EXECUTED" and order.executed_at is not None and order.cancelled_at is None
    executed_at, _, updated_at = _stored(session_factory, order.order_id)
    assert executed_at == order.executed_at
    time.sleep(0.01)
    assert order.brokerage_order_id is not None
    late = broker.orders[order.brokerage_order_id].model_copy(update={"commission": Decimal("1.25")})
    service.handle_order_update(BrokerProvider.IBKR, late)  # a commission report after the fill
    executed_again, _, updated_again = _stored(session_factory, order.order_id)
    assert updated_again > updated_at and executed_again == executed_at
    assert service.get_order_status(order.order_id).executed_at == executed_at


def test_cancel_time_is_stored_and_a_working_order_has_neither(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    order = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 1, "Limit", 150, time_in_force="GTC")
                                  .preview_id)
    assert order.status == "ACCEPTED" and order.executed_at is None and order.cancelled_at is None
    canceled = service.cancel_order(order.order_id)
    assert canceled.status == "CANCELED" and canceled.cancelled_at is not None and canceled.executed_at is None
    assert _stored(session_factory, order.order_id)[1] == canceled.cancelled_at
    # the broker later says it filled after all: a fill overrides the cancel, and the cancel time goes
    assert order.brokerage_order_id is not None
    filled = broker.orders[order.brokerage_order_id].model_copy(update={
        "status": OrderStatus.EXECUTED, "filled_quantity": Decimal(1), "remaining_quantity": Decimal(0),
        "average_fill_price": Decimal(150)})
    service.handle_order_update(BrokerProvider.IBKR, filled)
    executed_at, cancelled_at, _ = _stored(session_factory, order.order_id)
    assert executed_at is not None and cancelled_at is None


def test_upgrade_backfills_from_updated_at_and_downgrade_drops_the_columns() -> None:
    with fresh_test_database() as empty_url:
        _backfill_and_drop(empty_url)


def _backfill_and_drop(empty_url: str) -> None:
    migrate.upgrade(empty_url, "te0005_core")
    for status in ("EXECUTED", "CANCELED", "ACCEPTED"):
        preview_id = uuid.uuid4()
        _exec(empty_url, "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, "
              "broker_symbol_id, expires_at) VALUES (:id, 'DU1', 'AAPL', 'BUY', 1, 'Market', 'AAPL', now())",
              id=preview_id)
        _exec(empty_url, "INSERT INTO trade_orders (id, preview_id, account_id, status, updated_at) VALUES "
              "(:id, :preview_id, 'DU1', :status, '2026-01-02T03:04:05+00')",
              id=uuid.uuid4(), preview_id=preview_id, status=status)
    migrate.upgrade(empty_url, "te0006_order_times")
    rows = {r[0]: r[1:] for r in _exec(empty_url, "SELECT status, executed_at = updated_at, "
                                       "cancelled_at = updated_at FROM trade_orders")}
    assert rows == {"EXECUTED": (True, None), "CANCELED": (None, True), "ACCEPTED": (None, None)}
    migrate.downgrade(empty_url, "te0005_core")
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    columns = {c["name"] for c in inspect(engine).get_columns("trade_orders")}
    engine.dispose()
    assert not {"executed_at", "cancelled_at"} & columns
    assert len(_exec(empty_url, "SELECT id FROM trade_orders")) == 3
