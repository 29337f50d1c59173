"""The half-placed-set decisions the crash test cannot reach at a real gateway (services/set_reconcile.py):
an entry that already filled without its protective children, and an entry whose cancel the broker refuses.

The set's rows are written as an interrupted execute leaves them (entry at the broker, children SUBMITTING
and never sent), past the placement window; the in-memory broker plays the broker.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.models import OrderSide, OrderStatus
from brokers.records import BrokerOrder
from db.engine import transaction
from db.models import TradeEvent, TradeOrder, TradePreview
from services.order_store import utcnow
from tests.core.conftest import ServiceFactory
from tests.support.backdate import backdate_orders
from tests.support.memory_broker import MemoryBroker


class RefusingBroker(MemoryBroker):
    def cancel_order(self, account_id: str, brokerage_order_id: str) -> BrokerOrder:
        self.cancel_attempts = getattr(self, "cancel_attempts", 0) + 1
        raise TradeError(ErrorCode.ORDER_NOT_CANCELABLE, "placed by another API client id")


def _half_placed(make_service: ServiceFactory, broker: MemoryBroker, session_factory: sessionmaker[Session],
                 entry_status: OrderStatus) -> tuple[uuid.UUID, list[uuid.UUID]]:
    service = make_service(adapters=[broker])
    preview = service.preview_trade("DU111", "AAPL", "BUY", 2, "Limit", "190")
    ref, now = str(uuid.uuid4()), utcnow()
    broker.orders["77"] = BrokerOrder(account_id="DU111", brokerage_order_id="77", client_order_ref=ref,
                                      status=entry_status, ticker="AAPL", side=OrderSide.BUY, quantity=Decimal(2),
                                      filled_quantity=Decimal(2) if entry_status is OrderStatus.EXECUTED else 0)
    entry = TradeOrder(id=uuid.uuid4(), preview_id=uuid.UUID(preview.preview_id), leg_role="entry",
                       account_id="DU111", broker_provider="ibkr", client_order_ref=ref, status=entry_status,
                       brokerage_order_id="77", filled_quantity=0, remaining_quantity=Decimal(2),
                       created_at=now, submitted_at=now, updated_at=now)
    children = [TradeOrder(id=uuid.uuid4(), parent_order_id=entry.id, leg_role=role, account_id="DU111",
                           broker_provider="ibkr", client_order_ref=f"{ref}{suffix}", status=OrderStatus.SUBMITTING,
                           filled_quantity=0, remaining_quantity=Decimal(2), created_at=now, submitted_at=now,
                           updated_at=now) for role, suffix in (("take_profit", "-tp"), ("stop_loss", "-sl"))]
    with transaction(session_factory) as session:
        session.execute(update(TradePreview).where(TradePreview.id == entry.preview_id).values(
            status="EXECUTED", order_options={"take_profit_price": "200", "stop_loss_price": "180"}))
        session.add(entry)
        session.flush()
        session.add_all(children)
    backdate_orders(session_factory, [entry.id, *(c.id for c in children)])
    return entry.id, [c.id for c in children]


def _evidence(session_factory: sessionmaker[Session], entry_id: uuid.UUID) -> dict[str, object]:
    with session_factory() as session:
        [payload] = session.execute(select(TradeEvent.payload).where(
            TradeEvent.event_type == "ORDER_SET_HALF_PLACED", TradeEvent.order_id == entry_id)).scalars()
        return dict(payload)


@pytest.mark.parametrize("refuse", [False, True])
def test_an_entry_that_filled_without_its_exits_is_flagged_for_a_person(
    make_service: ServiceFactory, session_factory: sessionmaker[Session], refuse: bool,
) -> None:
    broker = (RefusingBroker if refuse else MemoryBroker)()
    broker.add_account("DU111", cash="100000", AAPL="50")
    entry_id, children = _half_placed(make_service, broker, session_factory, OrderStatus.EXECUTED)
    report = make_service(adapters=[broker]).reconcile()
    assert report.flagged == {str(entry_id): "HALF_PLACED_SET"} and report.errors == []
    assert sorted(report.failed) == sorted(str(c) for c in children) and report.still_unknown == []
    evidence = _evidence(session_factory, entry_id)
    assert "already filled" in str(evidence["decision"]) and "protective" in str(evidence["decision"])
    assert getattr(broker, "cancel_attempts", 0) == 0  # nothing left to cancel
    again = make_service(adapters=[broker]).reconcile()
    assert again.flagged == {}  # flagged once: never decided twice


def test_a_working_entry_whose_cancel_is_refused_stays_flagged_with_the_refusal(
    make_service: ServiceFactory, session_factory: sessionmaker[Session],
) -> None:
    broker = RefusingBroker()
    broker.add_account("DU111", cash="100000", AAPL="50")
    entry_id, _children = _half_placed(make_service, broker, session_factory, OrderStatus.ACCEPTED)
    report = make_service(adapters=[broker]).reconcile()
    assert report.flagged == {str(entry_id): "HALF_PLACED_SET"}
    evidence = _evidence(session_factory, entry_id)
    assert "cancel it by hand" in str(evidence["decision"])
    assert evidence["error"]["error_code"] == "ORDER_NOT_CANCELABLE"  # type: ignore[index]
    with session_factory() as session:
        entry = session.get(TradeOrder, entry_id)
        assert entry is not None and (entry.status, entry.attention) == (OrderStatus.ACCEPTED, "HALF_PLACED_SET")
