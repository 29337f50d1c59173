"""What every figure shares: the bench database, its engine, and services built on it.

The service is assembled here rather than through services.wiring.build_service so the
bench owns the engine (it counts statements on it) and never picks up broker settings
from the environment: the bench only ever talks to in-process fakes and local simulators.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bench.database import StatementCounter
from brokers.base import BrokerAdapter
from brokers.memory import MemoryBroker
from db.engine import make_engine, make_session_factory
from services.trade_execution import TradeExecutionService
from settings import Settings

ACCOUNT = "DUBENCH1"


BENCH_ACCOUNTS = tuple(f"DUBENCH{i}" for i in range(1, 17))
"""Throughput spreads its previews over these: executes on one account serialize on its holdings check."""


def bench_broker(accounts: int = 1) -> MemoryBroker:
    """The shared in-memory broker with paper accounts and cash enough for every bench order.

    Bench orders are limit buys below the market, so they stay working (ACCEPTED).
    """
    broker = MemoryBroker()
    for account in BENCH_ACCOUNTS[:accounts]:
        broker.add_account(account, cash="100000000000")
    return broker


def bench_settings(url: str, **overrides: Any) -> Settings:
    """Paper trading on, every limit off, nothing read from .env: only fakes receive these orders."""
    values: dict[str, Any] = {
        "DATABASE_URL": url, "BROKERS": "", "TRADING_MODE": "paper", "ORDERS_ENABLED": True,
        "TRADING_KILL_SWITCH": False, "TRADING_KILL_SWITCH_FILE": None, "LIVE_TRADING_OVERRIDE_FILE": None,
        "MAX_ORDER_NOTIONAL": None, "MAX_ORDER_QUANTITY": None, "MAX_POSITION_WEIGHT": None,
        "PRICE_BAND_PCT": None, "PREVIEW_TTL_SECONDS": 3600,
        # rows the scale figure leaves SUBMITTING must stay so, to time the same scan repeatedly
        "RECONCILE_SETTLE_SECONDS": 10**9,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class BenchContext:
    url: str
    quick: bool
    engine: Engine = field(init=False)
    session_factory: sessionmaker[Session] = field(init=False)
    counter: StatementCounter = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, pool_size=16 if self.quick else 32)  # 64 callers at most
        self.session_factory = make_session_factory(self.engine)
        self.counter = StatementCounter(self.engine)

    def close(self) -> None:
        self.counter.close()
        self.engine.dispose()

    def n(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    @contextmanager
    def service(self, adapters: Sequence[BrokerAdapter] | None = None, **settings: Any) -> Iterator[
        TradeExecutionService
    ]:
        service = TradeExecutionService(
            bench_settings(self.url, **settings), self.session_factory,
            list(adapters) if adapters is not None else [bench_broker()],
        )
        try:
            yield service
        finally:
            service.close()

    def truncate(self) -> None:
        """Figures start from empty tables so one figure's rows never skew the next one's plans."""
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE trade_events, trade_modifications, trade_orders, trade_previews"))
