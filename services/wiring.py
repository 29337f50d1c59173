"""build_service: settings in, a ready TradeExecutionService out. Adapters come from BROKERS."""

from __future__ import annotations

import logging
import os
import signal

from brokers.base import BrokerAdapter
from db.engine import database_url, make_engine, make_session_factory
from services.trade_execution import EXECUTE_CHECKPOINTS, Checkpoint, TradeExecutionService
from settings import Settings
from telemetry.metrics import instrument_adapter

log = logging.getLogger(__name__)


def build_adapters(settings: Settings) -> list[BrokerAdapter]:
    """Import each adapter lazily: a process that uses one broker never loads the other's SDK."""
    adapters: list[BrokerAdapter] = []
    for name in settings.brokers:
        if name == "ibkr":
            from brokers.ibkr.adapter import IBKRBrokerAdapter

            adapters.append(IBKRBrokerAdapter.from_settings(settings))
        elif name == "snaptrade":
            from brokers.snaptrade import SnapTradeBrokerAdapter

            adapters.append(SnapTradeBrokerAdapter.from_settings(settings))
    return [instrument_adapter(adapter) for adapter in adapters]


def crash_checkpoint(point: str) -> Checkpoint:
    """For crash tests: die abruptly (no cleanup, no flush) when the execute path reaches `point`."""
    if point not in EXECUTE_CHECKPOINTS:
        raise ValueError(f"TRADEEXEC_FAULT_KILL_AT must be one of {', '.join(EXECUTE_CHECKPOINTS)}")

    def checkpoint(reached: str) -> None:
        if reached == point:
            log.critical("TRADEEXEC_FAULT_KILL_AT=%s reached: killing this process", point)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def build_service(
    settings: Settings | None = None,
    *,
    adapters: list[BrokerAdapter] | None = None,
    reconcile_on_start: bool = True,
    continuous: bool = False,
) -> TradeExecutionService:
    """continuous: a long-running server; reconciliation then also runs on its own (see reconcile_schedule)."""
    settings = settings or Settings()
    engine = make_engine(database_url(settings), pool_size=settings.database_pool_size)
    service = TradeExecutionService(
        settings,
        make_session_factory(engine),
        adapters if adapters is not None else build_adapters(settings),
        checkpoint=crash_checkpoint(settings.fault_kill_at) if settings.fault_kill_at else None,
    )
    if reconcile_on_start:
        try:
            report = service.start()
            if report.examined:
                log.info("start-up reconciliation: %s", report.as_json())
        except Exception:
            log.exception("start-up reconciliation failed; executes are refused until a retry succeeds")
    if continuous:
        service.start_continuous_reconciliation()
    return service
