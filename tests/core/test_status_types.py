"""Statuses are types: every way the service reads a row yields the enum, so no code converts strings.

Through the ORM (a session) and through the execute path's own SQL (rows built from the typed
table columns, as `services/execute_sql.py` does): each status is an OrderStatus / PreviewStatus.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import OrderStatus
from db.models import PreviewStatus, TradeOrder, TradePreview
from services.execute_sql import ORDER_COLUMNS, PREVIEW_COLUMNS
from services.trade_execution import TradeExecutionService
from tests.support.memory_broker import MemoryBroker, lose_answer


def test_rows_read_back_with_enum_statuses(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    placed = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 1).preview_id)
    broker.place_fault = lose_answer
    lost = service.execute_trade(service.preview_trade("DU111", "AAPL", "BUY", 2).preview_id)
    broker.place_fault = None
    assert (placed.status, lost.status) == ("EXECUTED", "UNKNOWN")
    assert service.reconcile().settled == {lost.order_id: "EXECUTED"}  # reconciliation compared enums
    with session_factory() as session:
        orders = list(session.execute(select(TradeOrder)).scalars())
        previews = list(session.execute(select(TradePreview)).scalars())
        core_orders = [TradeOrder(**r) for r in session.connection().execute(select(*ORDER_COLUMNS)).mappings()]
        core_previews = [TradePreview(**r) for r in session.connection().execute(select(*PREVIEW_COLUMNS)).mappings()]
    assert len(orders) == len(core_orders) == 2 and len(previews) == len(core_previews) == 2
    assert all(type(o.status) is OrderStatus and o.status is OrderStatus.EXECUTED for o in orders + core_orders)
    assert all(type(p.status) is PreviewStatus and p.status is PreviewStatus.EXECUTED for p in previews + core_previews)
