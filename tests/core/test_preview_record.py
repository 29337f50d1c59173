"""A preview is stored in one statement: the row, and its PREVIEW_CREATED event built from the same values."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent, TradePreview
from services.trade_execution import TradeExecutionService


def test_the_created_event_carries_the_impact_and_total_the_row_stores(
    service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_trade("DU111", "AAPL", "BUY", 10, "Limit", Decimal("150.25"))
    with session_factory() as session:
        row = session.get_one(TradePreview, uuid.UUID(preview.preview_id))
        [event] = session.scalars(select(TradeEvent).where(TradeEvent.preview_id == row.id)).all()
    assert event.event_type == "PREVIEW_CREATED" and event.status == "ACTIVE"
    assert event.payload == {"impact": row.impact, "estimated_total": "1503.50"}  # 10 x 150.25 + 1.00, as sent
    assert row.impact["estimated_total"] == "1503.50" and row.estimated_total == Decimal("1503.50")
    # set on the row after it was built (record_preview reads the row's own values, not attribute events)
    assert (row.orders_enabled, row.trading_mode) == (service.settings.orders_enabled, "paper")
    assert row.broker_preview_data["execute_simulated"] is (not service.settings.orders_enabled)
    assert row.broker_preview_data["account_label"]


def test_a_stored_row_is_refused_rather_than_recorded_from_missing_values(
    service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    from brokers.errors import ErrorCode, TradeError
    from services.preview_record import record_preview

    preview = service.preview_trade("DU111", "AAPL", "BUY", 1)
    with session_factory() as session:
        stored = session.get_one(TradePreview, uuid.UUID(preview.preview_id))
        session.expire(stored)  # its values are no longer in __dict__
        with pytest.raises(TradeError) as refused:
            record_preview(service.execution.engine, stored, uuid.uuid4())
    assert refused.value.code is ErrorCode.INTERNAL_ERROR
