"""SnapTrade 429 / 500 / hang on each call the service makes: every call comes back within its
timeout with a structured error, the next call succeeds without a restart, nothing is placed twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from services.trade_execution import TradeExecutionService
from tests.snaptrade.conftest import World, make_adapter, make_service, world
from tests.support.backdate import backdate_orders

__all__ = ["make_adapter", "make_service", "world"]

TIMEOUT = 2.0
Call = Callable[[TradeExecutionService, World, str], Any]
CALLS: dict[str, tuple[str, str, Call]] = {
    "list_tradeable_accounts": ("GET", r"^/accounts/all$", lambda s, w, o: s.list_tradeable_accounts()),
    "search_symbol": ("POST", r"/symbols$", lambda s, w, o: s.search_symbol(w.paper, "AAPL")),
    "get_quote": ("GET", r"/quotes$", lambda s, w, o: s.get_quote(w.paper, "AAPL")),
    "get_account_balance": ("GET", r"/balances$", lambda s, w, o: s.get_account_balance(w.paper)),
    "get_positions": ("GET", r"/positions", lambda s, w, o: s.get_positions(w.paper)),
    "preview_trade": ("POST", r"^/trade/impact$", lambda s, w, o: s.preview_trade(w.paper, "AAPL", "BUY", 1)),
    "get_order_status": ("POST", r"/orders/details$", lambda s, w, o: s.get_order_status(o)),
    "cancel_order": ("POST", r"/trading/cancel$", lambda s, w, o: s.cancel_order(o)),
}
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "headers": {"Retry-After": "30"}, "body": {"detail": "slow down", "code": "429"}},
    "500": {"status": 500, "body": {"detail": "internal error", "status_code": 500, "code": "500"}},
    "hang": {"status": 504, "hang_seconds": TIMEOUT * 3},
}
STRUCTURED = {ErrorCode.BROKER_UNAVAILABLE, ErrorCode.BROKER_ERROR, ErrorCode.ORDER_OUTCOME_UNKNOWN}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_fault_on_each_call(world: World, make_service: Any, call: str, fault: str) -> None:
    service: TradeExecutionService = make_service(SNAPTRADE_TIMEOUT_SECONDS=TIMEOUT)
    world.sim.fill_policy = "accept"  # orders rest, so status and cancel have something to act on
    resting = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 1, "Limit", "180").preview_id)
    assert resting.status == "ACCEPTED"
    placed_before = world.sim.placed_order_count
    method, path, action = CALLS[call]

    world.sim.inject_fault(method=method, path_regex=path, count=1, **FAULTS[fault])
    started = time.monotonic()
    try:
        result = action(service, world, resting.order_id)
    except TradeError as exc:
        assert exc.code in STRUCTURED, exc.to_dict()
        assert world.consumer_key not in str(exc.to_dict()) and world.user_secret not in str(exc.to_dict())
    else:
        assert call == "get_order_status" and result.stale, result  # stored state, flagged as not fresh
    assert time.monotonic() - started < TIMEOUT * 2 + 1.0

    world.sim.clear_faults()
    recovered = action(service, world, resting.order_id)  # the same service, no restart
    assert recovered is not None
    assert world.sim.placed_order_count == placed_before


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_on_placement_is_unknown_never_retried_then_settled(
    world: World, make_service: Any, fault: str, session_factory: sessionmaker[Session]
) -> None:
    service: TradeExecutionService = make_service(SNAPTRADE_TIMEOUT_SECONDS=TIMEOUT)
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 2)
    world.sim.inject_fault(method="POST", path_regex=r"^/trade/[0-9a-f]{8}-", count=1, **FAULTS[fault])
    started = time.monotonic()
    order = service.execute_trade(preview.preview_id)
    assert time.monotonic() - started < TIMEOUT * 2 + 1.0
    assert order.status == "UNKNOWN" and order.error_code == "ORDER_OUTCOME_UNKNOWN"
    assert len(world.placements()) == 1 and world.sim.placed_order_count == 0
    world.sim.clear_faults()
    backdate_orders(session_factory, [order.order_id])  # past the settle window
    report = service.reconcile()
    assert report.failed == [order.order_id]  # the fault answered before booking: no order exists
    with pytest.raises(TradeError) as again:
        service.execute_trade(preview.preview_id)
    assert again.value.code is ErrorCode.ALREADY_EXECUTED
    assert len(world.placements()) == 1 and world.sim.placed_order_count == 0
    assert world.sim.cash(world.paper) == Decimal("100000")
