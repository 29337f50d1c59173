"""A modification is held to the execute-time account check, and later checks count an order at its current terms.

Service -> real ib_async -> the IB Gateway simulator, over a real database. The simulator's account has
5,000 in cash (buying power 10,000), so the buying-power figures below are the simulator's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.connection import IBKRConnectionManager
from db.models import ModificationStatus, TradeEvent, TradeModification
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import ACCOUNT, order_row, placed_orders, wait_until

D = Decimal


@pytest.fixture
def sim() -> Iterator[IBGatewaySimulator]:
    simulator = IBGatewaySimulator(host="127.0.0.1", port=0, server_version=178, accounts=(ACCOUNT,),
                                   starting_cash="5000")
    simulator.start()
    yield simulator
    simulator.close()


def _working(service: TradeExecutionService, side: str, quantity: str, limit: str) -> str:
    order = service.execute_trade(service.preview_trade(
        ACCOUNT, "AAPL", side, quantity, order_type="Limit", limit_price=limit).preview_id)
    assert order.status == "ACCEPTED" and order.order_id
    return order.order_id


def _refusals(session_factory: sessionmaker[Session], event_type: str) -> list[str | None]:
    with session_factory() as session:
        return list(session.execute(select(TradeEvent.error_code).where(
            TradeEvent.event_type == event_type).order_by(TradeEvent.id)).scalars())


def _hold_ten(sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session]) -> None:
    bought = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", "10").preview_id)
    wait_until(lambda: order_row(session_factory, bought.order_id).status == "EXECUTED", what="the buy fill")
    wait_until(lambda: [p.quantity for p in service.get_positions(ACCOUNT)] == [D(10)], what="the position")
    sim.auto_fill = False  # the sells rest at the gateway: working orders of this module


def test_raising_a_working_sell_past_the_shares_held_is_refused_and_nothing_is_sent(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    _hold_ten(sim, service, session_factory)
    first = _working(service, "SELL", "5", "250")
    _working(service, "SELL", "5", "250")
    sent_before = len(placed_orders(sim))

    raised = service.preview_modification(first, quantity="8")  # 8 of the 10 held: passes on its own
    with pytest.raises(TradeError) as refused:
        service.execute_modification(raised.modification_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_POSITION
    assert "10" in refused.value.message and "13" in refused.value.message  # held; working sells as modified
    assert sim.modification_count == 0 and len(placed_orders(sim)) == sent_before
    assert _refusals(session_factory, "MODIFICATION_REFUSED") == ["INSUFFICIENT_POSITION"]
    with session_factory() as session:
        row = session.get(TradeModification, raised.modification_id)
        assert row is not None and row.status is ModificationStatus.ACTIVE  # refused before it was claimed
    assert order_row(session_factory, first).quantity is None  # the order keeps its terms

    repriced = service.preview_modification(first, limit_price="251")  # 5 -> 5: no extra shares
    applied = service.execute_modification(repriced.modification_id)
    assert applied.status == "APPLIED" and sim.modification_count == 1


@pytest.mark.parametrize(("terms", "later"), [
    ({"quantity": "40"}, "15"),  # 40 x 185 = 7,400 working: 15 more at 185 (2,775) do not fit in 10,000
    ({"limit_price": "600"}, "25"),  # 10 x 600 = 6,000 working: 25 more at 185 (4,625) do not fit
])
def test_a_later_buy_counts_a_modified_buy_at_its_current_terms(
    terms: dict[str, str], later: str, sim: IBGatewaySimulator, service: TradeExecutionService,
    session_factory: sessionmaker[Session],
) -> None:
    sim.auto_fill = False
    order_id = _working(service, "BUY", "10", "185")
    modified = service.preview_modification(order_id, **terms)
    assert service.execute_modification(modified.modification_id).status == "APPLIED"

    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", later, order_type="Limit", limit_price="185")
    with pytest.raises(TradeError) as refused:  # passes on its own at preview; not with the modified order
        service.execute_trade(preview.preview_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert _refusals(session_factory, "EXECUTE_REFUSED") == ["INSUFFICIENT_FUNDS"]


def test_raising_a_buy_past_the_buying_power_left_is_refused(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    sim.auto_fill = False
    first = _working(service, "BUY", "10", "185")  # 1,850
    _working(service, "BUY", "30", "185")  # 5,550: 7,400 of the 10,000 working
    raised = service.preview_modification(first, limit_price="500")  # 5,000 on its own; 10,550 working
    with pytest.raises(TradeError) as refused:
        service.execute_modification(raised.modification_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert sim.modification_count == 0
    assert _refusals(session_factory, "MODIFICATION_REFUSED") == ["INSUFFICIENT_FUNDS"]


def test_a_change_sent_without_an_answer_counts_at_its_new_quantity(
    sim: IBGatewaySimulator, service: TradeExecutionService, manager: IBKRConnectionManager,
    session_factory: sessionmaker[Session],
) -> None:
    _hold_ten(sim, service, session_factory)
    first = _working(service, "SELL", "5", "250")
    raised = service.preview_modification(first, quantity="8")  # 8 of the 10 held
    sim.drop_connection_on_place("before_ack")  # the gateway never applies it; the module cannot know that
    assert service.execute_modification(raised.modification_id).status == "UNKNOWN"
    wait_until(lambda: manager.health().ready, what="the manager to reconnect")

    later = service.preview_trade(ACCOUNT, "AAPL", "SELL", "4", order_type="Limit", limit_price="250")
    with pytest.raises(TradeError) as refused:  # 5 + 4 fit in 10; the 8 the change may have made do not
        service.execute_trade(later.preview_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_POSITION and "12" in refused.value.message
    with session_factory() as session:
        row = session.get(TradeModification, raised.modification_id)
        assert row is not None and row.status is ModificationStatus.UNKNOWN  # still not known either way
