"""get_orders as the platform calls it: scoped, merged with broker-only orders, states that mean what they say."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import BrokerProvider, OrderSide, OrderStatus
from brokers.records import BrokerOrder
from db.models import TradeEvent, TradeOrder
from services.order_store import utcnow
from services.trade_execution import TradeExecutionService
from tests.core.conftest import ServiceFactory
from tests.support.memory_broker import MemoryBroker


def _ids(views: list) -> list[str | None]:  # type: ignore[type-arg]
    return [v.order_id for v in views]


def test_open_ignores_days_and_executed_includes_partly_filled_cancels(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    gtc = service.execute_order(service.preview_order("DU111", "AAPL", "BUY", 1, "Limit", 180, None, "GTC").preview_id)
    partly = service.execute_order(service.preview_order("DU111", "AAPL", "BUY", 5, "Limit", 181).preview_id)
    with session_factory.begin() as s:
        s.execute(update(TradeOrder).where(TradeOrder.id == gtc.order_id)
                  .values(created_at=utcnow() - timedelta(days=45)))
        s.execute(update(TradeOrder).where(TradeOrder.id == partly.order_id)
                  .values(status="CANCELED", filled_quantity=Decimal("3")))
    assert gtc.order_id in _ids(service.get_orders("DU111", state="open", days=30))
    assert gtc.order_id not in _ids(service.get_orders("DU111", state="all", days=30))
    executed = service.get_orders("DU111", state="executed")
    assert partly.order_id in _ids(executed)
    [row] = [v for v in executed if v.order_id == partly.order_id]
    assert row.order_status == "CANCELED" and row.filled_quantity == 3
    assert _ids(service.get_orders("DU111", state="cancelled")) == [partly.order_id]


def test_unknown_account_is_account_not_found_not_empty(service: TradeExecutionService) -> None:
    with pytest.raises(TradeError) as err:
        service.get_orders("NOPE123")
    assert err.value.code is ErrorCode.ACCOUNT_NOT_FOUND


def test_without_account_needs_exactly_one(make_service: ServiceFactory, broker: MemoryBroker) -> None:
    assert make_service().get_orders() == []
    broker.add_account("DU222")
    with pytest.raises(TradeError) as err:
        make_service().get_orders()
    assert err.value.code is ErrorCode.AMBIGUOUS_ACCOUNT and set(err.value.details["accounts"]) == {"DU111", "DU222"}


def test_reads_are_scoped_to_tradeable_accounts(
    make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    placed = make_service().execute_order(make_service().preview_order("DU111", "AAPL", "BUY", 1).preview_id)
    other = MemoryBroker(BrokerProvider.IBKR)
    other.add_account("DU999")
    restricted = make_service(adapters=[other])  # a process that may trade DU999 only
    with pytest.raises(TradeError) as listing:
        restricted.get_orders("DU111")
    assert listing.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    for read in (restricted.get_order_status, restricted.cancel_order):
        with pytest.raises(TradeError) as err:
            read(placed.order_id)
        assert err.value.code is ErrorCode.ORDER_NOT_FOUND


def test_broker_only_orders_are_merged_and_cancelable_by_broker_id(
    service: TradeExecutionService, broker: MemoryBroker, session_factory: sessionmaker[Session]
) -> None:
    ours = service.execute_order(service.preview_order("DU111", "AAPL", "BUY", 1, "Limit", 180).preview_id)
    broker.orders["H-7"] = BrokerOrder(
        account_id="DU111", brokerage_order_id="H-7", status=OrderStatus.ACCEPTED, ticker="MSFT",
        side=OrderSide.BUY, quantity=Decimal(1), placed_at=utcnow(), raw={},
    )
    listed = service.get_orders("DU111", state="open")
    assert [(v.source, v.brokerage_order_id) for v in listed if v.source == "brokerage"] == [("brokerage", "H-7")]
    assert [v.order_id for v in listed if v.source == "local"] == [ours.order_id]  # ours is not listed twice
    canceled = service.cancel_order("DU111", "H-7")
    assert canceled.source == "brokerage" and canceled.order_status == "CANCELED"
    with session_factory() as s:
        events = [e.event_type for e in s.query(TradeEvent).filter(TradeEvent.account_id == "DU111")]
    assert {"CANCEL_REQUESTED", "CANCEL_RESULT"} <= set(events)
    with pytest.raises(TradeError) as err:
        service.cancel_order("NOPE123", "H-7")
    assert err.value.code is ErrorCode.ACCOUNT_NOT_FOUND


def test_broker_outage_still_lists_our_rows_marked_stale(
    service: TradeExecutionService, broker: MemoryBroker
) -> None:
    working = service.execute_order(service.preview_order("DU111", "AAPL", "BUY", 1, "Limit", 180).preview_id)

    def down(account_id: str, state: str = "all", days: int = 30) -> list[BrokerOrder]:
        raise TradeError(ErrorCode.BROKER_UNAVAILABLE, "down")

    broker.get_orders = down  # type: ignore[method-assign]
    [row] = service.get_orders("DU111")
    assert row.order_id == working.order_id and row.stale is True
