"""Market-data fixtures: both simulators on real sockets, both real adapters, the service over the test database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.snaptrade import SnapTradeBrokerAdapter
from services.trade_execution import TradeExecutionService
from settings import Settings, TradingMode
from simulators.ib_gateway import IBGatewaySimulator
from simulators.snaptrade import SnapTradeSimulator
from tests.ibkr.conftest import make_manager

ACCOUNT, OTHER_ACCOUNT = "DU1234567", "DU7654321"


@dataclass
class Market:
    gateway: IBGatewaySimulator
    snaptrade: SnapTradeSimulator
    seeded: dict[str, Any]
    service: TradeExecutionService

    @property
    def snaptrade_account(self) -> str:
        return str(self.seeded["accounts"]["individual"])

    def buy(self, account: str, ticker: str, quantity: int) -> None:
        """A real order through the service (preview, execute) that the gateway fills at once."""
        preview = self.service.preview_trade(account, ticker, "BUY", quantity)
        self.service.execute_trade(preview.preview_id)

    def sell(self, account: str, ticker: str, quantity: int) -> None:
        preview = self.service.preview_trade(account, ticker, "SELL", quantity)
        self.service.execute_trade(preview.preview_id)


def market_settings(gateway: IBGatewaySimulator, seeded: dict[str, Any], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "BROKERS": "ibkr,snaptrade", "IBKR_GATEWAY_PORT": gateway.port, "IBKR_REQUEST_TIMEOUT_SECONDS": 5,
        "SNAPTRADE_BASE_URL": seeded["base_url"], "SNAPTRADE_CLIENT_ID": seeded["client_id"],
        "SNAPTRADE_CONSUMER_KEY": seeded["consumer_key"], "SNAPTRADE_USER_ID": seeded["user_id"],
        "SNAPTRADE_USER_SECRET": seeded["user_secret"], "ORDERS_ENABLED": True, "TRADING_MODE": "paper",
        "MAX_ORDER_NOTIONAL": Decimal(10_000_000),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def market(session_factory: sessionmaker[Session], request: pytest.FixtureRequest) -> Iterator[Market]:
    overrides = getattr(request, "param", {})
    gateway = IBGatewaySimulator(port=0, accounts=(ACCOUNT, OTHER_ACCOUNT))
    gateway.start()
    manager = make_manager(gateway.port)
    try:
        with SnapTradeSimulator() as snaptrade:
            seeded = snaptrade.seed_demo()
            settings = market_settings(gateway, seeded, **overrides)
            adapters = [IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER),
                        SnapTradeBrokerAdapter.from_settings(settings)]
            service = TradeExecutionService(settings, session_factory, adapters)
            try:
                yield Market(gateway, snaptrade, seeded, service)
            finally:
                service.close()
                manager.shutdown()
    finally:
        manager.shutdown()
        gateway.close()
