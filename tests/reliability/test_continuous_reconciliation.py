"""Reconciliation that runs on its own in long-running servers, and trading that waits for it.

Real PostgreSQL (a private server that is stopped and started), the real SnapTrade SDK against
the simulator, the service's one background worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db.embedded import embedded_server_url, stop_embedded_server
from services.reconcile_evidence import account_lock
from services.trade_execution import TradeExecutionService
from tests.core.conftest import make_settings
from tests.ibkr.conftest import wait_until
from tests.reliability.test_database_outage import own_server
from tests.snaptrade.conftest import TRADE_PATH, World, make_adapter, make_service, order_row, world
from tests.support.memory_broker import MemoryBroker

__all__ = ["make_adapter", "make_service", "own_server", "world"]

FAST_LOOPS = {
    "RECONCILE_IN_FLIGHT_INTERVAL_SECONDS": 0.2,
    "RECONCILE_IN_FLIGHT_THRESHOLD_SECONDS": 0,
    "RECONCILE_POLL_INTERVAL_SECONDS": 0.3,
}


def test_executes_are_refused_until_start_up_reconciliation_has_completed(
    own_server: tuple[Path, sessionmaker[Session]],
) -> None:
    data_dir, factory = own_server
    broker = MemoryBroker()
    broker.add_account("DU111", cash="100000", AAPL="10")
    service = TradeExecutionService(make_settings(), factory, [broker])
    ready = service.preview_trade("DU111", "AAPL", "BUY", 1)
    stop_embedded_server(data_dir)  # the process starts while its database is down
    with pytest.raises(TradeError) as startup:
        service.start()
    assert startup.value.code is ErrorCode.DATABASE_UNAVAILABLE
    assert service.get_quote("DU111", "AAPL").last is not None  # reads that need no database still answer
    with pytest.raises(TradeError) as refused:
        service.execute_trade(ready.preview_id)
    assert refused.value.code is ErrorCode.TRADING_DISABLED
    assert "start-up reconciliation has not completed" in refused.value.message
    assert "database is not reachable" in refused.value.message and broker.place_calls == 0

    embedded_server_url(data_dir)  # the database is back: the next execute retries the start-up first

    def executed() -> Any:
        try:
            return service.execute_trade(ready.preview_id)
        except TradeError as exc:
            assert exc.code is ErrorCode.TRADING_DISABLED  # until the retry is due
            return None

    order = wait_until(executed, timeout=20, interval=0.5, what="the start-up reconciliation retry")
    assert order.status == "EXECUTED" and broker.place_calls == 1
    service.close()


def test_the_worker_settles_unknown_orders_and_records_fills_without_being_asked(
    world: World, make_service: Any, session_factory: sessionmaker[Session]
) -> None:
    service: TradeExecutionService = make_service(**FAST_LOOPS)
    service.start()
    service.start_continuous_reconciliation()
    assert service.background.alive
    resting = service.execute_trade(service.preview_trade(world.paper, "AAPL", "BUY", 2, "Limit", "185").preview_id)
    assert resting.status == "ACCEPTED"
    preview = service.preview_trade(world.paper, "MSFT", "BUY", 1)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500, process=True)
    lost = service.execute_trade(preview.preview_id)
    assert lost.status == "UNKNOWN"

    world.sim.fill(str(resting.brokerage_order_id))  # SnapTrade never pushes this: only a poll sees it
    wait_until(lambda: order_row(session_factory, resting.order_id).status == "EXECUTED", timeout=15,
               interval=0.1, what="the working-orders poll")
    wait_until(lambda: order_row(session_factory, lost.order_id).status == "EXECUTED", timeout=15,
               interval=0.1, what="the in-flight check")
    assert world.sim.placed_order_count == 2 and len(world.placements()) == 2
    service.close()
    assert not service.background.alive  # close() ended the one worker


def test_one_reconciliation_per_account_across_processes(
    world: World, make_service: Any, session_factory: sessionmaker[Session]
) -> None:
    service: TradeExecutionService = make_service()
    preview = service.preview_trade(world.paper, "AAPL", "BUY", 1)
    world.sim.inject_fault(method="POST", path_regex=TRADE_PATH, status=500, process=True)
    lost = service.execute_trade(preview.preview_id)
    with account_lock(session_factory, world.paper, wait=False) as held:  # another process is reconciling it
        assert held
        report = service.reconcile()
        assert report.skipped == [lost.order_id] and report.settled == {}
        assert order_row(session_factory, lost.order_id).status == "UNKNOWN"
    assert service.reconcile().settled == {lost.order_id: "EXECUTED"}
