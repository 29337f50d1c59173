"""The contract's cancel (account id and the BROKER's order id) of a bracket entry takes its set (issue 16).

Through the service, the real ib_async and the simulated gateway: the same as cancelling the entry by
our order id, also after the entry has filled (its working exits are cancelled), each cancel audited.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import wait_until

ACCOUNT = "DU1234567"


def _statuses(service: TradeExecutionService, ids: list[str]) -> list[str]:
    return [o.order.status if o.order else "?" for o in service.get_orders_status(ids).orders]


def _events(session_factory: sessionmaker[Session], kind: str) -> set[str]:
    with session_factory() as session:
        rows = session.execute(select(TradeEvent.order_id).where(TradeEvent.event_type == kind)).scalars()
        return {str(i) for i in rows}


def test_cancel_by_the_filled_entrys_broker_id_cancels_its_working_exits(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    bracket = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, take_profit_price="200", stop_loss_price="180")
    result = service.execute_trade(bracket.preview_id)
    ids = result.order_ids or []
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="exits working")
    broker_id = service.get_order_status(uuid.UUID(ids[0])).brokerage_order_id
    assert broker_id

    cancelled = service.cancel_order(ACCOUNT, broker_id)

    assert cancelled.order_id == ids[0] and cancelled.order_ids == ids
    assert cancelled.order_roles == ["entry", "take_profit", "stop_loss"]
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "CANCELED", "CANCELED"], what="exits cancelled")
    assert _events(session_factory, "CANCEL_REFUSED") == {ids[0]}  # filled: refused, and audited
    assert _events(session_factory, "CANCEL_REQUESTED") == set(ids[1:])  # each exit's cancel audited
    assert _events(session_factory, "CANCEL_RESULT") == set(ids[1:])


def test_cancel_by_a_working_entrys_broker_id_cancels_the_set(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, "Limit", "180", take_profit_price="200",
                                    stop_loss_price="170")
    ids = service.execute_trade(preview.preview_id).order_ids or []
    broker_id = service.get_order_status(uuid.UUID(ids[0])).brokerage_order_id

    cancelled = service.cancel_order(ACCOUNT, broker_id)

    assert cancelled.status == "CANCELED" and cancelled.order_ids == ids
    wait_until(lambda: _statuses(service, ids) == ["CANCELED", "CANCELED", "CANCELED"], what="the set cancelled")
    assert _events(session_factory, "CANCEL_REQUESTED") == {ids[0]}  # the broker cancels attached children


def test_cancel_by_an_exits_broker_id_cancels_only_that_exit(
    sim: IBGatewaySimulator, service: TradeExecutionService,
) -> None:
    bracket = service.preview_trade(ACCOUNT, "AAPL", "BUY", 5, take_profit_price="200", stop_loss_price="180")
    ids = service.execute_trade(bracket.preview_id).order_ids or []
    wait_until(lambda: _statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="exits working")
    broker_id = service.get_order_status(uuid.UUID(ids[1])).brokerage_order_id

    cancelled = service.cancel_order(ACCOUNT, broker_id)

    assert cancelled.order_id == ids[1] and cancelled.order_ids is None
    assert Decimal(cancelled.quantity) == 5
    wait_until(lambda: _statuses(service, ids)[:2] == ["EXECUTED", "CANCELED"], what="the exit cancelled")
