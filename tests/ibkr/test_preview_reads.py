"""A preview through the service is one trip to the IB loop thread (issue 13): the whatIf, the snapshot quote,
the balance and the positions in one coroutine, paced as one preview, sending what the broker preview alone
sends. Trips are counted by the pacing budget's admissions (every call to the loop is admitted once).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.models import OrderRequest
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, event_types

PLACE_ORDER, MARKET_DATA, SUMMARY = 3, 1, 62


def _trips(adapter: IBKRBrokerAdapter) -> int:
    stats = adapter.manager.pacing.stats
    return stats.reads + stats.orders


def test_a_preview_is_one_trip_and_sends_what_the_broker_preview_sends(
    sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter, service: TradeExecutionService
) -> None:
    first = _trips(adapter)
    opened = service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")  # connects and subscribes the account summary
    assert _trips(adapter) - first == 1 and adapter.manager.account_summary_cached
    assert [m for _c, m, _f in sim.received].count(SUMMARY) == 1
    assert "in IBKR DU1234567 (PAPER, ****4567)" in opened.summary  # the label: from the connection, no trip

    received = len(sim.received)
    adapter.preview_order(OrderRequest(account_id=ACCOUNT, ticker="AAPL", side="BUY", quantity=Decimal(1)))
    alone = [m for _c, m, _f in sim.received[received:]]
    assert sorted(alone) == [MARKET_DATA, PLACE_ORDER]  # whatIf + snapshot

    trips, received = _trips(adapter), len(sim.received)
    for price in ("185.00", "186.00", "187.00"):
        view = service.preview_trade(ACCOUNT, "AAPL", "BUY", "1", order_type="Limit", limit_price=price)
        assert view.impact["position_weight_before"] is not None
    assert _trips(adapter) - trips == 3
    assert sorted(m for _c, m, _f in sim.received[received:]) == sorted(alone * 3)


def test_an_account_the_gateway_does_not_manage_is_refused_in_the_same_trip(
    adapter: IBKRBrokerAdapter, service: TradeExecutionService, session_factory: sessionmaker[Session]
) -> None:
    service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
    trips = _trips(adapter)
    with pytest.raises(TradeError) as refused:
        service.preview_trade("DU7654321", "AAPL", "BUY", "1")
    assert refused.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    assert refused.value.message == "IB Gateway does not manage account DU7654321"
    assert _trips(adapter) - trips == 1 and event_types(session_factory)[-1] == "PREVIEW_REFUSED"


def test_a_preview_when_the_gateway_is_down_is_broker_unavailable(
    sim: IBGatewaySimulator, service: TradeExecutionService
) -> None:
    service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
    sim.close()
    with pytest.raises(TradeError) as down:
        service.preview_trade(ACCOUNT, "AAPL", "BUY", "1")
    assert down.value.code is ErrorCode.BROKER_UNAVAILABLE
