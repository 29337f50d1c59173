"""IB Gateway faults mid-session: while the gateway is gone every service call comes back within
its timeout with a structured error; when it returns, the same service works again without a
restart; connectivity notices 1100/1102 gate orders; nothing is ever placed twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from brokers.errors import ErrorCode, TradeError
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.lifecycle import ConnectionState
from services.trade_execution import TradeExecutionService
from simulators.ib_gateway import IBGatewaySimulator
from tests.ibkr.conftest import (
    ACCOUNT,
    adapter,
    manager,
    no_leaked_connections,
    placed_orders,
    service,
    sim,
    wait_until,
)

__all__ = ["adapter", "manager", "no_leaked_connections", "service", "sim"]

CALL_TIMEOUT = 5.0  # IBKR_REQUEST_TIMEOUT_SECONDS in the ibkr fixtures
Call = Callable[[TradeExecutionService, str], Any]
CALLS: dict[str, Call] = {
    "list_tradeable_accounts": lambda s, o: s.list_tradeable_accounts(),
    "get_quote": lambda s, o: s.get_quote(ACCOUNT, "AAPL"),
    "get_account_balance": lambda s, o: s.get_account_balance(ACCOUNT),
    "get_positions": lambda s, o: s.get_positions(ACCOUNT),
    "search_symbol": lambda s, o: s.search_symbol(ACCOUNT, "MSFT"),
    "preview_trade": lambda s, o: s.preview_trade(ACCOUNT, "AAPL", "BUY", 1),
    "get_order_status": lambda s, o: s.get_order_status(o),
    "cancel_order": lambda s, o: s.cancel_order(o),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_gateway_gone_then_back(
    service: TradeExecutionService, sim: IBGatewaySimulator, manager: IBKRConnectionManager, call: str
) -> None:
    resting = service.execute_trade(service.preview_trade(ACCOUNT, "AAPL", "BUY", 1, "Limit", "150").preview_id)
    assert resting.status in {"ACCEPTED", "PENDING"}
    placed = len(placed_orders(sim))

    sim.stop()
    # Reads answered from ib_async's live subscriptions are still served in the instant before the
    # dropped socket is noticed; wait for the manager to see the loss, as any later caller would.
    wait_until(lambda: manager.health().state is not ConnectionState.CONNECTED, what="the drop to be seen")
    started = time.monotonic()
    try:
        result = CALLS[call](service, resting.order_id)
    except TradeError as exc:
        assert exc.code in {ErrorCode.BROKER_UNAVAILABLE, ErrorCode.ACCOUNT_NOT_FOUND}, exc.to_dict()
    else:
        assert call == "get_order_status" and result.stale, result
    assert time.monotonic() - started < CALL_TIMEOUT * 2 + 1

    sim.start()
    recovered = wait_until(lambda: _succeeds(service, call, resting.order_id), timeout=20, interval=0.1,
                           what=f"{call} to work again")
    assert recovered
    assert len(placed_orders(sim)) == placed  # nothing was re-sent by the reconnect


def _succeeds(service: TradeExecutionService, call: str, order_id: str) -> bool:
    try:
        result = CALLS[call](service, order_id)
    except TradeError:
        return False
    return not getattr(result, "stale", False)


def test_orders_refused_between_1100_and_1102(
    service: TradeExecutionService, sim: IBGatewaySimulator, manager: IBKRConnectionManager
) -> None:
    preview = service.preview_trade(ACCOUNT, "AAPL", "BUY", 1)
    sim.send_connectivity_notice(1100)
    wait_until(lambda: manager.health().state is ConnectionState.DEGRADED, what="1100 to be seen")
    started = time.monotonic()
    with pytest.raises(TradeError) as refused:
        service.execute_trade(preview.preview_id)
    assert refused.value.code is ErrorCode.BROKER_UNAVAILABLE
    assert time.monotonic() - started < CALL_TIMEOUT + 1
    assert placed_orders(sim) == []

    sim.send_connectivity_notice(1102)
    fresh = wait_until(lambda: _preview_ok(service), timeout=20, interval=0.1, what="previews after 1102")
    order = service.execute_trade(fresh)
    assert order.status in {"EXECUTED", "ACCEPTED", "PENDING"}
    assert len(placed_orders(sim)) == 1


def _preview_ok(service: TradeExecutionService) -> str | None:
    try:
        return service.preview_trade(ACCOUNT, "AAPL", "BUY", 1).preview_id
    except TradeError:
        return None
