"""A SELL bracket's working BUY exits spend buying power at execute (issue 16), once per set.

Through the service, the real ib_async and the simulated gateway with a small account: the exits of a
SELL bracket are BUY orders the broker may fill, so a separate BUY that fits the buying power alone
but not together with them is refused (audited, nothing sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.models import TradeEvent
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import order_statuses, placed_orders, running_sim, wait_until

ACCOUNT = "DU1234567"


@pytest.fixture
def sim() -> Iterator[IBGatewaySimulator]:
    yield from running_sim(starting_cash=Decimal(20000))


def _settled_buying_power(sim: IBGatewaySimulator, service: TradeExecutionService) -> Decimal | None:
    """The buying power the module reads, once it is the gateway's own (a fill's summary update has arrived)."""
    read = service.get_account_balance(ACCOUNT).buying_power
    return read if read is not None and read == sim.account(ACCOUNT).buying_power else None


def _buy_sized_to_leave(sim: IBGatewaySimulator, service: TradeExecutionService, headroom: Decimal) -> str:
    """A working BUY Limit at 190 (the bid is 189.99, the ask 190.01) whose cost leaves about `headroom` of the
    buying power (the preview passes)."""
    buying_power = wait_until(lambda: _settled_buying_power(sim, service), what="the buying power after the fills")
    quantity = int((buying_power - headroom) / 190)
    return service.preview_trade(ACCOUNT, "AAPL", "BUY", quantity, "Limit", "190").preview_id


def test_a_sell_brackets_working_buy_exit_counts_against_buying_power(
    sim: IBGatewaySimulator, service: TradeExecutionService, session_factory: sessionmaker[Session],
) -> None:
    bought = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", 5).preview_id)
    wait_until(lambda: order_statuses(service, [bought.order_id or ""]) == ["EXECUTED"], what="the buy fill")
    bracket = service.preview_trade(ACCOUNT, "AAPL", "SELL", 5, take_profit_price="185", stop_loss_price="195")
    ids = service.execute_trade(bracket.preview_id).order_ids or []
    wait_until(lambda: order_statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="BUY exits working")
    sent = len(placed_orders(sim))

    over = _buy_sized_to_leave(sim, service, Decimal(400))  # fits alone; with the exit's 5 x 195 = 975, it does not
    with pytest.raises(TradeError) as refused:
        service.execute_trade(over)

    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    open_buys = Decimal(refused.value.details["open_buy_value"])
    assert open_buys - Decimal(975) < Decimal(refused.value.details["buying_power"]) < open_buys
    assert len(placed_orders(sim)) == sent
    with session_factory() as session:
        refusals = session.execute(select(TradeEvent.error_code).where(TradeEvent.event_type == "EXECUTE_REFUSED"))
        assert list(refusals.scalars()) == ["INSUFFICIENT_FUNDS"]


def test_a_sets_two_exits_count_once(sim: IBGatewaySimulator, service: TradeExecutionService) -> None:
    bought = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", 5).preview_id)
    wait_until(lambda: order_statuses(service, [bought.order_id or ""]) == ["EXECUTED"], what="the buy fill")
    bracket = service.preview_trade(ACCOUNT, "AAPL", "SELL", 5, take_profit_price="185", stop_loss_price="195")
    ids = service.execute_trade(bracket.preview_id).order_ids or []
    wait_until(lambda: order_statuses(service, ids) == ["EXECUTED", "ACCEPTED", "PENDING"], what="BUY exits working")

    # 1500 left: enough for the larger exit (975), not for both (925 + 975), and only one of them can fill
    placed = service.execute_trade(_buy_sized_to_leave(sim, service, Decimal(1500)))

    assert placed.status == "ACCEPTED"
