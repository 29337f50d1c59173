"""Engine and session factory. One pooled engine per URL; sync psycopg 3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, NullPool, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from db.embedded import embedded_server_url
from settings import Settings


def normalize_url(url: str) -> str:
    """Accept the usual postgres:// spellings and pin the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return embedded_server_url(settings.tradeexec_data_dir)


CONNECT_TIMEOUT_SECONDS = 5
"""A database that accepts the connection and never answers is unreachable after this, not a hang."""

IDLE_PING_SECONDS = 5.0
"""A pooled connection idle longer than this is pinged on checkout; a busy pool never pays the round trip."""


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """A pool sized for concurrent executes, LIFO so busy connections stay warm, no pre-ping per checkout."""
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,
        pool_pre_ping=False,
        pool_timeout=10,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection that sat idle may have died with a database restart: check it, and let the pool replace it."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()
    except Exception:
        raise DisconnectionError("a pooled connection did not answer after being idle") from None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def one_shot_engine(url: str) -> Engine:
    """An engine for a few statements (schema checks, migrations): no pool, and a connect time-out."""
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
