"""Messages IB sends about an order that stays live must not make it REJECTED (issue 11.1).

ib_async 2.1.0 marks an order Cancelled for any order-scoped error outside its own warning list,
e.g. 10349 'Order TIF was set to DAY based on order preset', which TWS sends for orders that keep
working; real gateways also report a brief Inactive before Submitted. The simulator sends both
(settings below), the real ib_async client decodes them, and the order must still read EXECUTED.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import pytest
from ib_async import Contract, Order, Trade, TradeLogEntry
from ib_async import OrderStatus as IBOrderStatus
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr import status as codes
from brokers.ibkr.orders import broker_order, effective_status
from brokers.models import OrderStatus
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, event_types, order_row, placed_orders, wait_until

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
PRESET = "Error 10349, reqId 5: Order TIF was set to DAY based on order preset."


@pytest.mark.parametrize(
    ("preset", "inactive_first"),
    [("before_ack", False), ("after_ack", False), (None, True), ("before_ack", True)],
)
def test_an_informational_message_leaves_the_order_live_until_it_fills(
    preset: str | None, inactive_first: bool, sim: IBGatewaySimulator, service: TradeExecutionService,
    session_factory: sessionmaker[Session],
) -> None:
    sim.auto_fill = False
    sim.order_presets(preset, inactive_first=inactive_first)
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="Limit", limit_price="191.00")

    view = service.execute_trade(preview.preview_id)  # success: no BROKER_REJECTED

    assert view.status in ("PENDING", "ACCEPTED") and view.brokerage_order_id
    booked = next(o for o in sim.orders if o.order_ref == view.client_order_ref)
    sim.fill(booked.order_id, price="190.50")
    row = wait_until(lambda: (r := order_row(session_factory, view.order_id)).status == "EXECUTED" and r,
                     what="the fill pushed after the informational message")
    assert row.filled_quantity == 10 and row.average_fill_price == Decimal("190.50")
    assert "ORDER_REJECTED" not in event_types(session_factory, view.order_id)
    assert service.get_order_status(view.order_id).status == "EXECUTED"
    assert len(placed_orders(sim)) == 1


def test_a_real_rejection_is_still_a_rejection_with_the_preset_on(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    sim.order_presets("before_ack")
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", "10", order_type="Limit", limit_price="185.00")
    sim.reject_next_order("Simulated rejection")
    with pytest.raises(TradeError) as caught:
        service.execute_trade(preview.preview_id)
    assert caught.value.code is ErrorCode.BROKER_REJECTED
    assert order_row(session_factory, caught.value.details["order_id"]).status == "REJECTED"


def test_code_sets_are_disjoint_and_110_434_are_rejections_only() -> None:
    for (name_a, a), (name_b, b) in combinations(codes.CODE_SETS.items(), 2):
        assert not a & b, f"{name_a} and {name_b} share {sorted(a & b)}"
    for code in (110, 434, 201, 203):
        assert [name for name, s in codes.CODE_SETS.items() if code in s] == ["order_rejected"]
    assert codes.is_rejection(201) and not codes.is_rejection(10349) and not codes.is_rejection(202)
    assert codes.ends_order(202) and not codes.ends_order(10349) and not codes.ends_order(10148)


def _trade(status: str, log: list[TradeLogEntry]) -> Trade:
    order = Order(orderId=5, clientId=17, permId=1001, action="BUY", totalQuantity=10.0, orderType="LMT",
                  lmtPrice=185.0, account=ACCOUNT, orderRef="ref-x")
    contract = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")
    return Trade(contract, order, IBOrderStatus(orderId=5, status=status, remaining=10.0, permId=1001), [], log)


def test_ib_async_cancelled_for_a_warning_is_not_the_order_status() -> None:
    before_ack = _trade("Cancelled", [TradeLogEntry(NOW, "PendingSubmit"),
                                      TradeLogEntry(NOW, "Cancelled", PRESET, 10349)])
    assert effective_status(before_ack) == "PendingSubmit"
    assert broker_order(before_ack).status is OrderStatus.PENDING
    after_ack = _trade("Cancelled", [TradeLogEntry(NOW, "Submitted"),
                                     TradeLogEntry(NOW, "Cancelled", PRESET, 10349),
                                     TradeLogEntry(NOW, "Cancelled", "Fill 4.0@190.0")])  # ib_async copies status
    assert broker_order(after_ack).status is OrderStatus.ACCEPTED
    inactive = _trade("Inactive", [TradeLogEntry(NOW, "PendingSubmit"), TradeLogEntry(NOW, "Inactive")])
    assert broker_order(inactive).status is OrderStatus.PENDING  # no rejection code: not refused
    refused = _trade("Inactive", [TradeLogEntry(NOW, "PendingSubmit"),
                                  TradeLogEntry(NOW, "Cancelled", "Order rejected - reason: x", 201),
                                  TradeLogEntry(NOW, "Inactive")])
    assert broker_order(refused).status is OrderStatus.REJECTED
    completed = _trade("Inactive", [])
    assert broker_order(completed, completed=True).status is OrderStatus.REJECTED
    canceled = _trade("Cancelled", [TradeLogEntry(NOW, "Submitted"), TradeLogEntry(NOW, "Cancelled", "x", 202)])
    assert broker_order(canceled).status is OrderStatus.CANCELED
