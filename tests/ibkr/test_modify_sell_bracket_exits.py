"""A change of a SELL bracket's BUY exit is held to the execute-time buying-power check when it raises what its
set counts (the larger exit value, once per set), and a change of an exit sent without an answer counts.

Through the service, the real ib_async and the simulated gateway with a small account. The set: 5 AAPL sold,
take-profit BUY Limit 185 (925) and stop-loss BUY Stop 195 (975); the set counts 975.
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
from tests.ibkr.conftest import order_row, order_statuses, placed_orders, running_sim, wait_until

ACCOUNT = "DU1234567"
D = Decimal


@pytest.fixture
def sim() -> Iterator[IBGatewaySimulator]:
    yield from running_sim(starting_cash=Decimal(20000))


def _sell_bracket(service: TradeExecutionService) -> dict[str, str]:
    bought = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", 5).preview_id)
    wait_until(lambda: order_statuses(service, [bought.order_id or ""]) == ["EXECUTED"], what="the buy fill")
    bracket = service.preview_trade(ACCOUNT, "AAPL", "SELL", 5, take_profit_price="185", stop_loss_price="195")
    placed = service.execute_trade(bracket.preview_id)
    ids = placed.order_ids or []
    wait_until(lambda: order_statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="BUY exits working")
    return dict(zip(placed.order_roles or [], ids, strict=True))


def _settled_buying_power(sim: IBGatewaySimulator, service: TradeExecutionService) -> Decimal | None:
    """The buying power the module reads, once it is the gateway's own (a fill's summary update has arrived)."""
    read = service.get_account_balance(ACCOUNT).buying_power
    return read if read is not None and read == sim.account(ACCOUNT).buying_power else None


def _buy_leaving(sim: IBGatewaySimulator, service: TradeExecutionService, headroom: Decimal) -> str:
    """A BUY Limit at 190 (below the ask 190.01: it rests) whose cost leaves `headroom` to about 190 more of the
    buying power; its preview id."""
    buying_power = wait_until(lambda: _settled_buying_power(sim, service), what="the buying power after the fills")
    quantity = int((buying_power - headroom) / 190)
    return service.preview_trade(ACCOUNT, "AAPL", "BUY", quantity, "Limit", "190").preview_id


def _refusals(session_factory: sessionmaker[Session], event_type: str) -> list[str | None]:
    with session_factory() as session:
        return list(session.execute(select(TradeEvent.error_code).where(
            TradeEvent.event_type == event_type).order_by(TradeEvent.id)).scalars())


def test_raising_an_exit_past_the_buying_power_left_is_refused_and_nothing_is_sent(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    legs = _sell_bracket(service)
    assert service.execute_trade(_buy_leaving(sim, service, D(1100))).status == "ACCEPTED"  # the set's 975 fits
    sent = len(placed_orders(sim))

    raised = service.preview_modification(legs["stop_loss"], stop_price="300")  # the set would count 1,500
    with pytest.raises(TradeError) as refused:
        service.execute_modification(raised.modification_id)
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    open_buys = D(refused.value.details["open_buy_value"])
    assert open_buys - D(1500) < D(refused.value.details["buying_power"]) < open_buys
    assert sim.modification_count == 0 and len(placed_orders(sim)) == sent
    assert _refusals(session_factory, "MODIFICATION_REFUSED") == ["INSUFFICIENT_FUNDS"]
    with session_factory() as session:
        row = session.get(TradeModification, raised.modification_id)
        assert row is not None and row.status is ModificationStatus.ACTIVE  # refused before it was claimed
    assert order_row(session_factory, legs["stop_loss"]).stop_price is None  # the leg keeps its terms

    fits = service.preview_modification(legs["stop_loss"], stop_price="200")  # 1,000: within what is left
    assert service.execute_modification(fits.modification_id).status == "APPLIED"
    assert sim.modification_count == 1


def test_a_change_of_an_exit_sent_without_an_answer_counts_at_its_new_price(
    sim: IBGatewaySimulator, service: TradeExecutionService, manager: IBKRConnectionManager,
    session_factory: sessionmaker[Session],
) -> None:
    legs = _sell_bracket(service)
    raised = service.preview_modification(legs["stop_loss"], stop_price="300")  # 1,500: fits the account now
    sim.drop_connection_on_place("before_ack")  # the gateway never applies it; the module cannot know that
    assert service.execute_modification(raised.modification_id).status == "UNKNOWN"
    wait_until(lambda: manager.health().ready, what="the manager to reconnect")

    later = _buy_leaving(sim, service, D(1100))  # fits beside the set's 975; not beside the 1,500 it may count now
    with pytest.raises(TradeError) as refused:
        service.execute_trade(later)
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    open_buys = D(refused.value.details["open_buy_value"])
    assert open_buys - D(1500) < D(refused.value.details["buying_power"]) < open_buys
    assert _refusals(session_factory, "EXECUTE_REFUSED") == ["INSUFFICIENT_FUNDS"]
