"""Hot-path statements sent straight to the pooled psycopg connection, past SQLAlchemy's execution layer.

Why: each statement through SQLAlchemy costs tens of microseconds of Python on top of psycopg's
own (compiled-cache lookup, execution context, result metadata built from cursor.description),
and an execute sends three of them per order. Here they go to the same pooled connection's
psycopg driver directly, and rows come back as plain tuples. Only fixed statements written for
PostgreSQL go this way (services/execute_sql.py); everything else stays on SQLAlchemy.
Not pipelined: psycopg's pipeline mode costs more Python than the loopback round trip it saves
(measured: UPDATE + COMMIT 140 µs CPU / 450 µs wall sequential, 200 µs / 500 µs pipelined).

What stays as it was:
- errors: a psycopg error is raised as the SQLAlchemy DBAPIError subclass of the same name
  (IntegrityError, OperationalError, DataError, ...), with `connection_invalidated` set and the
  pooled connection discarded when the connection is gone, so callers keep one family of errors;
- the pool: connections are checked out and in through the engine's pool (its checkout events,
  such as the idle ping of db/engine.py, still run);
- observability: engine events do not see these statements, so `observe(engine, fn)` registers a
  callback told of each statement and of each commit sent here (the bench counts them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

Params = Mapping[str, Any]
Observer = Callable[[str | None], None]
"""Called with each statement's text, or with None for a COMMIT sent here."""

_observers: WeakKeyDictionary[Engine, list[Observer]] = WeakKeyDictionary()
_observers_lock = threading.Lock()
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def psycopg_style(statement: str) -> bytes:
    """A statement written with SQLAlchemy's `:name` parameters, in psycopg's `%(name)s` style.

    `::type` casts are left alone; a literal `%` is doubled. Bytes, because psycopg takes
    composed statement text as bytes (str would have to be a literal)."""
    return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%")).encode()


def observe(engine: Engine, observer: Observer) -> Callable[[], None]:
    """Tell `observer` of every statement and commit sent here on `engine`; returns its removal."""
    with _observers_lock:
        _observers.setdefault(engine, []).append(observer)

    def remove() -> None:
        with _observers_lock:
            _observers.get(engine, []).remove(observer)

    return remove


def _notify(engine: Engine, statement: bytes | None) -> None:
    observers = _observers.get(engine)
    if observers:
        text = None if statement is None else statement.decode()
        for observer in list(observers):
            observer(text)


def _translated(exc: psycopg.Error, statement: bytes | None, params: Any, invalidated: bool) -> BaseException:
    """The SQLAlchemy exception SQLAlchemy itself would have raised for this driver error."""
    return DBAPIError.instance(None if statement is None else statement.decode(), params, exc, psycopg.Error,
                               connection_invalidated=invalidated)


def _checkout(engine: Engine) -> tuple[Any, psycopg.Connection[Any]]:
    """A pooled connection and its driver; a failure to connect is SQLAlchemy's OperationalError, as
    engine.connect() raises it (raw_connection() lets the driver's own error through)."""
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as exc:
        raise _translated(exc, None, None, False) from exc
    try:
        return pooled, _driver(pooled)
    except TypeError:
        pooled.close()
        raise


def _driver(pooled: Any) -> psycopg.Connection[Any]:
    driver = pooled.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("db.direct needs the psycopg 3 driver (postgresql+psycopg://)")
    return driver


@dataclass(frozen=True)
class Statements:
    """Where statements go: one psycopg connection, in the transaction it is in (the engine is for observers)."""

    engine: Engine
    driver: psycopg.Connection[Any]

    def fetch(self, statement: bytes, params: Params) -> list[tuple[Any, ...]]:
        """Run one statement that returns rows; its rows as tuples (the caller knows its columns, so no result
        metadata is built). A dead connection is reported with `connection_invalidated`."""
        _notify(self.engine, statement)
        try:
            with self.driver.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall()
        except psycopg.Error as exc:
            raise _translated(exc, statement, params, self.driver.closed or self.driver.broken) from exc


def joined(conn: Connection) -> Statements:
    """Statements inside a SQLAlchemy Connection's transaction: the same psycopg connection, committed (or
    rolled back, and invalidated if it died) by `conn`'s owner as usual."""
    return Statements(conn.engine, _driver(conn.connection))


@contextmanager
def transaction(engine: Engine) -> Iterator[Statements]:
    """A transaction on a pooled connection: COMMIT when the block ends, ROLLBACK if it raises.

    A connection found dead is discarded from the pool, never handed to the next caller."""
    pooled, driver = _checkout(engine)
    try:
        yield Statements(engine, driver)
        _notify(engine, None)
        try:
            driver.commit()
        except psycopg.Error as exc:
            raise _translated(exc, None, None, driver.closed or driver.broken) from exc
    except BaseException:
        if driver.closed or driver.broken:
            pooled.invalidate()
        else:
            with suppress(psycopg.Error):
                driver.rollback()
        raise
    finally:
        pooled.close()


def fetch_and_commit(engine: Engine, statement: bytes, params: Params) -> list[tuple[Any, ...]]:
    """Run one statement that returns rows as a transaction of its own; its rows as tuples.

    Sent in autocommit: a single statement is atomic by itself, so this is the same transaction as
    BEGIN; statement; COMMIT, without the BEGIN and COMMIT round trips. Either all of it commits or
    none of it does. When the answer is lost, the error says so (`connection_invalidated`) and the
    caller must treat the outcome as unknown (it may have committed)."""
    pooled, driver = _checkout(engine)
    try:
        driver.autocommit = True  # the pool hands connections out idle, so the switch sends nothing
        _notify(engine, statement)
        with driver.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        _notify(engine, None)  # committed with the statement
        return rows
    except psycopg.Error as exc:
        broken = driver.closed or driver.broken
        if broken:
            pooled.invalidate()
        raise _translated(exc, statement, params, broken) from exc
    finally:
        _back_to_transactions(pooled, driver)
        pooled.close()


def _back_to_transactions(pooled: Any, driver: psycopg.Connection[Any]) -> None:
    """SQLAlchemy expects its pooled connections out of autocommit; one that cannot be switched back is dropped."""
    if driver.closed or driver.broken:
        return
    try:
        driver.autocommit = False
    except psycopg.Error:
        pooled.invalidate()
