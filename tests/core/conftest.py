"""Service fixtures over the in-memory broker and the real test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import BrokerProvider
from services.trade_execution import Checkpoint, TradeExecutionService
from settings import Settings
from tests.support.memory_broker import MemoryBroker

ServiceFactory = Callable[..., TradeExecutionService]


@pytest.fixture
def broker() -> MemoryBroker:
    broker = MemoryBroker(BrokerProvider.IBKR)
    broker.add_account("DU111", cash="100000", AAPL="50")
    return broker


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"ORDERS_ENABLED": True, "BROKERS": ""}
    base.update(overrides)
    return Settings(_env_file=None, **base)


@pytest.fixture
def make_service(
    session_factory: sessionmaker[Session], broker: MemoryBroker
) -> Iterator[ServiceFactory]:
    made: list[TradeExecutionService] = []

    def factory(checkpoint: Checkpoint | None = None, adapters: list[Any] | None = None,
                **overrides: Any) -> TradeExecutionService:
        service = TradeExecutionService(
            make_settings(**overrides), session_factory, adapters or [broker], checkpoint=checkpoint
        )
        made.append(service)
        return service

    yield factory


@pytest.fixture
def service(make_service: ServiceFactory) -> TradeExecutionService:
    return make_service()
