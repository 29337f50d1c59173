"""Shared fixtures: one migrated database per run; every test leaves it empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from tests.support.database import fresh_test_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_test_database(migrated=True) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """For tests of code that commits (the execute protocol does): tables are emptied afterwards."""
    yield make_session_factory(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE trade_events, trade_modifications, trade_orders, trade_previews, trade_approvals"))


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """For tests that only read and write rows: everything is rolled back."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
