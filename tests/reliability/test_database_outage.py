"""PostgreSQL stopped and started mid-session: calls fail cleanly, nothing reaches a broker
without its intent row, and the service recovers without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode, TradeError
from db import migrate
from db.embedded import embedded_server_url, stop_embedded_server
from db.engine import make_engine, make_session_factory
from db.models import TradeOrder
from services.trade_execution import TradeExecutionService
from tests.core.conftest import make_settings
from tests.support.memory_broker import MemoryBroker


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Path, sessionmaker[Session]]]:
    """A private embedded server this test may stop and start, migrated, with a session factory."""
    data_dir = tmp_path / "pg"
    url = embedded_server_url(data_dir)
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        yield data_dir, make_session_factory(engine)
    finally:
        engine.dispose()
        stop_embedded_server(data_dir)


def test_service_survives_a_database_restart(own_server: tuple[Path, sessionmaker[Session]]) -> None:
    data_dir, factory = own_server
    url = embedded_server_url(data_dir)
    broker = MemoryBroker()
    broker.add_account("DU111", cash="100000", AAPL="10")
    service = TradeExecutionService(make_settings(), factory, [broker])
    ready = service.preview_trade("DU111", "AAPL", "BUY", 1)

    stop_embedded_server(data_dir)
    with pytest.raises(TradeError) as preview_err:
        service.preview_trade("DU111", "AAPL", "BUY", 1)
    assert preview_err.value.code is ErrorCode.DATABASE_UNAVAILABLE
    with pytest.raises(TradeError) as execute_err:
        service.execute_trade(ready.preview_id)
    assert execute_err.value.code is ErrorCode.DATABASE_UNAVAILABLE
    with pytest.raises(TradeError) as orders_err:
        service.get_orders()
    assert orders_err.value.code is ErrorCode.DATABASE_UNAVAILABLE
    assert broker.place_calls == 0  # no intent row, no broker call

    assert embedded_server_url(data_dir) == url
    order = service.execute_trade(ready.preview_id)
    assert order.status == "EXECUTED" and broker.place_calls == 1
    with factory() as session:
        assert session.execute(select(func.count()).select_from(TradeOrder)).scalar_one() == 1


def test_database_lost_after_the_broker_call_is_reported_as_unknown_then_settled(
    own_server: tuple[Path, sessionmaker[Session]],
) -> None:
    data_dir, factory = own_server
    broker = MemoryBroker()
    broker.add_account("DU111", cash="100000")

    def database_dies(point: str) -> None:
        if point == "after_broker_call":
            stop_embedded_server(data_dir)

    service = TradeExecutionService(make_settings(), factory, [broker], checkpoint=database_dies)
    preview = service.preview_trade("DU111", "AAPL", "BUY", 2)
    with pytest.raises(TradeError) as err:
        service.execute_trade(preview.preview_id)
    assert err.value.code is ErrorCode.ORDER_OUTCOME_UNKNOWN and "sent to the broker" in err.value.message
    assert broker.place_calls == 1

    embedded_server_url(data_dir)
    recovered = TradeExecutionService(make_settings(), factory, [broker])
    report = recovered.start()
    assert report.settled == {err.value.details["order_id"]: "EXECUTED"}
    assert broker.place_calls == 1
