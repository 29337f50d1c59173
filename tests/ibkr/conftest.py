"""Fixtures for the IBKR adapter: a simulated gateway on a real socket, a connection manager with
small backoff, the adapter, and the TradeExecutionService over a real database.

Each test gets its own simulator port and manager, and everything is shut down at teardown
(no loop threads or sockets outlive a test).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.ibkr.adapter import IBKRBrokerAdapter
from brokers.ibkr.connection import IBKRConnectionManager
from brokers.ibkr.lifecycle import Backoff
from db.models import TradeEvent, TradeOrder
from services.trade_execution import TradeExecutionService
from settings import Settings, TradingMode
from simulators.ib_gateway import IBGatewaySimulator

ACCOUNT = "DU1234567"
CLIENT_ID = 17
FAST_BACKOFF = Backoff(initial=0.05, maximum=0.25, jitter=0.2, stable_after=60.0)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01, what: str = "") -> Any:
    """Poll until predicate() is truthy; never a bare sleep as synchronisation."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def make_manager(port: int, client_id: int = CLIENT_ID, **options: Any) -> IBKRConnectionManager:
    options.setdefault("request_timeout", 5.0)
    options.setdefault("connect_timeout", 3.0)
    options.setdefault("backoff", FAST_BACKOFF)
    options.setdefault("max_requests_per_second", 0)  # the simulator needs no pacing; IB does
    return IBKRConnectionManager("127.0.0.1", port, client_id, **options)


@pytest.fixture(autouse=True)
def no_leaked_connections() -> Iterator[None]:
    """Every test closes what it opens: no IB loop or event thread may outlive it."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("ibkr-loop") and t.is_alive()]
    assert leaked == [], f"IBKR threads left running: {leaked}"


def running_sim(**options: Any) -> Iterator[IBGatewaySimulator]:
    """A started simulator with the test account, closed afterwards (`yield from` it in a `sim` override)."""
    simulator = IBGatewaySimulator(host="127.0.0.1", port=0, server_version=178, accounts=(ACCOUNT,), **options)
    simulator.start()
    yield simulator
    simulator.close()


@pytest.fixture
def sim() -> Iterator[IBGatewaySimulator]:
    yield from running_sim()


@pytest.fixture
def manager(sim: IBGatewaySimulator) -> Iterator[IBKRConnectionManager]:
    created = make_manager(sim.port)
    yield created
    created.shutdown()


@pytest.fixture
def adapter(manager: IBKRConnectionManager) -> Iterator[IBKRBrokerAdapter]:
    created = IBKRBrokerAdapter(manager, trading_mode=TradingMode.PAPER)
    yield created
    created.close()


def make_settings(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "BROKERS": "ibkr", "IBKR_GATEWAY_HOST": "127.0.0.1", "IBKR_GATEWAY_PORT": port,
        "IBKR_CLIENT_ID": CLIENT_ID, "IBKR_REQUEST_TIMEOUT_SECONDS": 5, "ORDERS_ENABLED": True,
        "TRADING_MODE": "paper", "RECONCILE_SETTLE_SECONDS": 5, "TRADING_KILL_SWITCH": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def service(
    sim: IBGatewaySimulator, manager: IBKRConnectionManager, adapter: IBKRBrokerAdapter,
    session_factory: sessionmaker[Session],
) -> Iterator[TradeExecutionService]:
    created = TradeExecutionService(make_settings(sim.port), session_factory, [adapter])
    yield created
    created.close()
    manager.shutdown()  # drain pushed events before the database is emptied


def order_row(session_factory: sessionmaker[Session], order_id: str) -> TradeOrder:
    with session_factory() as session:
        row = session.get(TradeOrder, order_id)
        assert row is not None
        return row


def event_types(session_factory: sessionmaker[Session], order_id: str | None = None) -> list[str]:
    with session_factory() as session:
        stmt = select(TradeEvent.event_type).order_by(TradeEvent.id)
        if order_id is not None:
            stmt = stmt.where(TradeEvent.order_id == order_id)
        return list(session.execute(stmt).scalars())


def placed_orders(sim: IBGatewaySimulator) -> list[list[str]]:
    """placeOrder messages that reached the gateway, whatIf previews excluded.

    The adapter sends previews without an orderRef and every real order with the client order ref
    (field 26 of placeOrder), which tells them apart without decoding the whole message.
    """
    return [fields for _cid, msg_id, fields in sim.received if msg_id == 3 and fields[26]]


@pytest.fixture
def limited(sim: IBGatewaySimulator, adapter: IBKRBrokerAdapter,
            session_factory: sessionmaker[Session]) -> Iterator[Any]:
    """Services with the given settings (e.g. risk limits) on the shared adapter, closed afterwards."""
    services: list[TradeExecutionService] = []

    def make(**limits: Any) -> TradeExecutionService:
        services.append(TradeExecutionService(make_settings(sim.port, **limits), session_factory, [adapter]))
        return services[-1]

    yield make
    for service in services:
        service.close()


def gbp_ledger(sim: IBGatewaySimulator, service: TradeExecutionService) -> None:
    """GBP cash at the gateway, so IB reports the GBP/USD rate (1.27), and the module has read it."""
    sim.market_data.set_foreign_cash(ACCOUNT, "GBP", "1000", "1.27")
    wait_until(lambda: service.get_account_balance(ACCOUNT).exchange_rates.get("GBP") == Decimal("1.27"),
               what="the GBP exchange rate")


def order_statuses(service: TradeExecutionService, ids: list[str]) -> list[str]:
    return [o.order.status if o.order else "?" for o in service.get_orders_status(ids).orders]
