"""build_service: settings in, a ready TradeExecutionService out. Adapters come from BROKERS."""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING

from brokers.base import BrokerAdapter
from db.engine import database_url, make_engine, make_session_factory
from services.trade_execution import EXECUTE_CHECKPOINTS, Checkpoint, TradeExecutionService
from settings import Settings
from telemetry.metrics import instrument_adapter

if TYPE_CHECKING:  # the SnapTrade package loads its SDK: only where SnapTrade is configured
    from brokers.snaptrade.user_credentials import UserCredentialsProvider

log = logging.getLogger(__name__)


def build_adapters(
    settings: Settings, snaptrade_users: UserCredentialsProvider | None = None
) -> list[BrokerAdapter]:
    """Import each adapter lazily: a process that uses one broker never loads the other's SDK.
    `snaptrade_users`: SnapTrade credentials per platform user (brokers/snaptrade/user_credentials.py)."""
    adapters: list[BrokerAdapter] = []
    for name in settings.brokers:
        if name == "ibkr":
            from brokers.ibkr.adapter import IBKRBrokerAdapter

            adapters.append(IBKRBrokerAdapter.from_settings(settings))
        elif name == "snaptrade":
            from brokers.snaptrade import SnapTradeBrokerAdapter

            adapters.append(SnapTradeBrokerAdapter.from_settings(settings, snaptrade_users))
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
    snaptrade_users: UserCredentialsProvider | None = None,
) -> TradeExecutionService:
    """continuous: a long-running server; reconciliation then also runs on its own (see reconcile_schedule)."""
    settings = settings or Settings()
    engine = make_engine(database_url(settings), pool_size=settings.database_pool_size)
    service = TradeExecutionService(
        settings,
        make_session_factory(engine),
        adapters if adapters is not None else build_adapters(settings, snaptrade_users),
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
