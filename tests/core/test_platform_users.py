"""The platform is multi-user: user_email is stored, and another user's preview or order is refused (audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent, TradeOrder, TradePreview
from services.trade_execution import TradeExecutionService
from tests.support.memory_broker import MemoryBroker


def test_another_users_preview_and_order_are_refused(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    preview = service.preview_order("DU111", "AAPL", "BUY", 1, "Limit", 180, user_email=" Alice@Example.com ")
    assert preview.user_email == "alice@example.com"
    with pytest.raises(TradeError) as other:
        service.execute_order(preview.preview_id, user_email="bob@example.com")
    assert other.value.code is ErrorCode.PREVIEW_NOT_FOUND and broker.place_calls == 0
    order = service.execute_order(preview.preview_id, user_email="alice@example.com")
    assert order.user_email == "alice@example.com" and broker.place_calls == 1
    with pytest.raises(TradeError) as cancel:
        service.cancel_order("DU111", order.brokerage_order_id, user_email="bob@example.com")
    assert cancel.value.code is ErrorCode.ORDER_NOT_FOUND
    with pytest.raises(TradeError):
        service.cancel_order(order.order_id, user_email="bob@example.com")
    assert service.cancel_order("DU111", order.brokerage_order_id, user_email="alice@example.com").status == "CANCELED"
    with session_factory() as session:
        stored = session.execute(select(TradePreview.user_email, TradeOrder.user_email)
                                 .join(TradeOrder, TradeOrder.preview_id == TradePreview.id)).one()
        refusals = list(session.execute(select(TradeEvent.event_type).where(
            TradeEvent.event_type.in_(["EXECUTE_REFUSED", "CANCEL_REFUSED"]))).scalars())
    assert tuple(stored) == ("alice@example.com", "alice@example.com")
    assert sorted(refusals) == ["CANCEL_REFUSED", "CANCEL_REFUSED", "EXECUTE_REFUSED"]


def test_without_a_user_nothing_is_checked_and_bad_addresses_are_refused(
    service: TradeExecutionService, broker: MemoryBroker
) -> None:
    preview = service.preview_order("DU111", "AAPL", "BUY", 1, user_email="alice@example.com")
    assert service.execute_order(preview.preview_id).status == "EXECUTED"  # no user given: the platform's call
    for bad in ("alice", "a b@example.com", 42, "x@y"):
        with pytest.raises(TradeError) as err:
            service.preview_order("DU111", "AAPL", "BUY", 1, user_email=bad)
        assert err.value.code is ErrorCode.VALIDATION_ERROR
    batch = service.execute_orders([service.preview_order("DU111", "AAPL", "BUY", 1, user_email="alice@example.com")
                                    .preview_id], user_email="bob@example.com")
    assert batch.status == "failed" and batch.legs[0].error["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert broker.place_calls == 1
