"""Instrument tests: both simulators on real sockets, the IB account small enough that a future's notional
exceeds its buying power while its initial margin does not."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.snaptrade import SnapTradeBrokerAdapter
from services.trade_execution import TradeExecutionService
from settings import TradingMode
from simulators.ib_gateway import IBGatewaySimulator
from simulators.snaptrade import SnapTradeSimulator
from tests.ibkr.conftest import make_manager
from tests.market.conftest import ACCOUNT, OTHER_ACCOUNT, Market, market_settings

STARTING_CASH = 100_000
"""Buying power 200,000 (2x): less than 1 ES (5,000 x 50 = 250,000), far more than its 16,000 initial margin."""


@pytest.fixture
def small(session_factory: sessionmaker[Session]) -> Iterator[Market]:
    gateway = IBGatewaySimulator(port=0, accounts=(ACCOUNT, OTHER_ACCOUNT), starting_cash=STARTING_CASH)
    gateway.start()
    manager = make_manager(gateway.port)
    try:
        with SnapTradeSimulator() as snaptrade:
            seeded = snaptrade.seed_demo()
            settings = market_settings(gateway, seeded, RECONCILE_SETTLE_SECONDS=60)
            adapters = [IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER),
                        SnapTradeBrokerAdapter.from_settings(settings)]
            service = TradeExecutionService(settings, session_factory, adapters)
            try:
                yield Market(gateway, snaptrade, seeded, service)
            finally:
                service.close()
                manager.shutdown()
                for thread in threading.enumerate():
                    if thread.name in ("tradeexec-reconcile", "tradeexec-refresh"):
                        thread.join(5)
    finally:
        manager.shutdown()
        gateway.close()
