"""MCP fixtures: the tools on an in-process server over the in-memory broker and the real test database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.models import BrokerProvider
from db.models import TradeEvent, TradeOrder, TradePreview
from mcp_tools.server import build_server
from services.trade_execution import TradeExecutionService
from settings import Settings
from tests.support.memory_broker import MemoryBroker

ServerFactory = Callable[..., MCPServer[Any]]


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"ORDERS_ENABLED": True, "BROKERS": "", "DATABASE_URL": None}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture
def ibkr() -> MemoryBroker:
    broker = MemoryBroker(BrokerProvider.IBKR)
    broker.add_account("DU111", cash="100000", AAPL="50")
    return broker


@pytest.fixture
def snaptrade() -> MemoryBroker:
    broker = MemoryBroker(BrokerProvider.SNAPTRADE)
    broker.add_account("st-acct-1", cash="50000", MSFT="5")
    return broker


@pytest.fixture
def make_server(
    session_factory: sessionmaker[Session], ibkr: MemoryBroker, snaptrade: MemoryBroker
) -> Iterator[ServerFactory]:
    """Build an MCP server whose service uses both in-memory brokers; settings overridable per test."""
    services: list[TradeExecutionService] = []

    def factory(**overrides: Any) -> MCPServer[Any]:
        settings = make_settings(**overrides)
        service = TradeExecutionService(settings, session_factory, [ibkr, snaptrade])
        services.append(service)
        server, _provider = build_server(settings, service)
        return server

    yield factory


def payload(result: CallToolResult) -> dict[str, Any]:
    """The JSON a tool returned; the text content and the structured content must agree."""
    assert len(result.content) == 1 and result.content[0].type == "text"
    data = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


def tool_error(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, f"expected a tool error, got {result.content}"
    data = payload(result)
    assert set(data) == {"error_code", "message", "details"}
    assert "Traceback" not in result.content[0].text
    return data


def row_counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with factory() as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (TradePreview, TradeOrder, TradeEvent)
        )
