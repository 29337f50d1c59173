"""services.replay in-process: recorded requests read back in order, replayed, differences found."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import TradeError
from brokers.models import BrokerProvider
from db.models import TradePreview
from services.replay import recorded_requests, replay
from services.trade_execution import TradeExecutionService
from tests.mcp.conftest import make_settings
from tests.support.memory_broker import MemoryBroker


def service_on(session_factory: sessionmaker[Session]) -> TradeExecutionService:
    broker = MemoryBroker(BrokerProvider.IBKR)
    broker.add_account("DU111", cash="100000", AAPL="50")
    return TradeExecutionService(make_settings(MAX_ORDER_QUANTITY="100"), session_factory, [broker])


def test_record_then_replay(session_factory: sessionmaker[Session]) -> None:
    recording = service_on(session_factory)
    first = recording.preview_trade("DU111", "AAPL", "BUY", 2)
    second = recording.preview_trade("DU111", "AAPL", "SELL", 1, "Limit", "1")
    recording.execute_trade(first.preview_id)
    with pytest.raises(TradeError):
        recording.execute_trade(first.preview_id)
    with pytest.raises(TradeError):
        recording.preview_trade("DU111", "AAPL", "BUY", 1000)

    requests = recorded_requests(session_factory)
    assert [(r.kind, r.outcome) for r in requests] == [
        ("preview", "created"), ("preview", "created"), ("execute", requests[2].outcome),
        ("execute", "refused"), ("preview", "refused"),
    ]
    assert requests[3].error_code == "ALREADY_EXECUTED" and requests[4].error_code == "RISK_LIMIT"
    assert recorded_requests(session_factory, account_id="NOPE") == []

    clean = replay(service_on(session_factory), requests, Decimal("0.01"))
    assert clean.differences == [] and clean.replayed == 5 and clean.skipped == 0

    with session_factory() as session, session.begin():
        session.execute(update(TradePreview).where(TradePreview.id == second.preview_id)
                        .values(estimated_total=Decimal("999999")))
    changed = replay(service_on(session_factory), recorded_requests(session_factory), Decimal("0.01"))
    assert [(d.kind, d.what) for d in changed.differences] == [("preview", "estimated_total")]
    assert Decimal(changed.as_json()["differences"][0]["recorded"]) == Decimal("999999")
