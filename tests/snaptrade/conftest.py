"""SnapTrade adapter fixtures: a running simulator, the adapter over the unmodified SDK, and
the service over both plus the real test database.

Secrets are random per test and contain characters URL-encoding changes, so a leak in
either form is caught.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.snaptrade import SnapTradeBrokerAdapter
from db.models import TradeOrder
from services.trade_execution import TradeExecutionService
from settings import Settings
from simulators.snaptrade import SnapTradeSimulator

CLIENT_ID = "TRADEEXEC-TEST"
USER_ID = "tradeexec-user"
TRADE_PATH = r"^/trade/[0-9a-f]{8}-[0-9a-f]{4}-"  # POST /trade/{tradeId}, not /trade/impact or /trade/place


@dataclass
class World:
    sim: SnapTradeSimulator
    consumer_key: str
    user_secret: str
    paper: str
    live: str
    symbols: dict[str, str]

    @property
    def secrets(self) -> list[str]:
        return [self.consumer_key, self.user_secret]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "SNAPTRADE_CLIENT_ID": CLIENT_ID,
            "SNAPTRADE_CONSUMER_KEY": self.consumer_key,
            "SNAPTRADE_USER_ID": USER_ID,
            "SNAPTRADE_USER_SECRET": self.user_secret,
            "SNAPTRADE_BASE_URL": self.sim.base_url,
            "SNAPTRADE_TIMEOUT_SECONDS": 10,
            "BROKERS": "snaptrade",
            "ORDERS_ENABLED": True,
            "TRADING_MODE": "paper",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    def placements(self) -> list[Any]:
        """Every POST /trade/{tradeId} the simulator received."""
        return [r for r in self.sim.requests if r.method == "POST" and r.path.startswith("/trade/")
                and r.path not in ("/trade/impact", "/trade/place")]


@pytest.fixture
def world() -> Iterator[World]:
    consumer_key = f"ck-{secrets.token_hex(10)}"
    user_secret = f"us/{secrets.token_hex(10)}+="
    sim = SnapTradeSimulator(client_id=CLIENT_ID, consumer_key=consumer_key).start()
    try:
        sim.add_user(USER_ID, user_secret)
        paper = sim.add_account(USER_ID, name="Alpaca Paper", number="PA-1001", cash=Decimal("100000"),
                                institution="Alpaca Paper", is_paper=True)
        live = sim.add_account(USER_ID, name="Robinhood Individual", number="RH-2002", cash=Decimal("5000"),
                               institution="Robinhood", is_paper=False)
        symbols = {
            "AAPL": sim.add_symbol("AAPL", Decimal("190.00"), "Apple Inc."),
            "MSFT": sim.add_symbol("MSFT", Decimal("420.00"), "Microsoft Corporation"),
        }
        sim.set_position(paper, "AAPL", Decimal("10"), Decimal("150"))
        yield World(sim, consumer_key, user_secret, paper, live, symbols)
    finally:
        sim.stop()


@pytest.fixture
def make_adapter(world: World) -> Iterator[Callable[..., SnapTradeBrokerAdapter]]:
    made: list[SnapTradeBrokerAdapter] = []

    def factory(**overrides: Any) -> SnapTradeBrokerAdapter:
        adapter = SnapTradeBrokerAdapter.from_settings(world.settings(**overrides))
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: Callable[..., SnapTradeBrokerAdapter]) -> SnapTradeBrokerAdapter:
    return make_adapter()


ServiceFactory = Callable[..., TradeExecutionService]


@pytest.fixture
def make_service(
    world: World, session_factory: sessionmaker[Session], make_adapter: Callable[..., SnapTradeBrokerAdapter]
) -> Iterator[ServiceFactory]:
    made: list[TradeExecutionService] = []

    def factory(**overrides: Any) -> TradeExecutionService:
        service = TradeExecutionService(world.settings(**overrides), session_factory, [make_adapter(**overrides)])
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


@pytest.fixture
def service(make_service: ServiceFactory) -> TradeExecutionService:
    return make_service()


def order_row(factory: sessionmaker[Session], order_id: str) -> TradeOrder:
    with factory() as session:
        row = session.execute(select(TradeOrder).where(TradeOrder.id == order_id)).scalar_one()
        session.expunge(row)
        return row
