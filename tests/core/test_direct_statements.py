"""db/direct.py: hot-path statements sent to psycopg directly keep SQLAlchemy's error contract and the pool's health.

What the execute path relies on: a unique violation is an IntegrityError (an order for the preview
exists), a dead connection is an OperationalError with connection_invalidated (the intent may be
retried on a new connection, the outcome reported as unknown), the broken connection is discarded
rather than handed to the next caller, and a refused statement commits nothing.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from db import direct
from db.engine import make_engine, normalize_url

_TABLE = "direct_statement_probe"
_INSERT = direct.psycopg_style(f"INSERT INTO {_TABLE} (id, note) VALUES (:id, :note) RETURNING id, note")


@pytest.fixture
def probe(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {_TABLE} (id uuid PRIMARY KEY, note text NOT NULL)"))
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {_TABLE}"))
        engine.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {_TABLE}")).scalar_one())


def test_named_parameters_become_psycopg_style_and_casts_and_percent_signs_survive() -> None:
    converted = direct.psycopg_style("SELECT :a::text, CAST(:b AS int), '{}'::jsonb, 'x%' LIKE :c_d")
    assert converted == b"SELECT %(a)s::text, CAST(%(b)s AS int), '{}'::jsonb, 'x%%' LIKE %(c_d)s"


def test_rows_commit_and_observers_hear_each_statement_and_commit(probe: Engine) -> None:
    heard: list[str | None] = []
    stop = direct.observe(probe, heard.append)
    row_id = uuid.uuid4()
    rows = direct.fetch_and_commit(probe, _INSERT, {"id": row_id, "note": "one"})
    stop()
    direct.fetch_and_commit(probe, _INSERT, {"id": uuid.uuid4(), "note": "unheard"})
    assert rows == [(row_id, "one")]
    assert heard == [_INSERT.decode(), None]  # the statement, then its COMMIT; nothing after removal
    assert _count(probe) == 2


def test_a_unique_violation_is_an_integrity_error_and_commits_nothing(probe: Engine) -> None:
    row_id = uuid.uuid4()
    direct.fetch_and_commit(probe, _INSERT, {"id": row_id, "note": "first"})
    with pytest.raises(IntegrityError) as refused:
        direct.fetch_and_commit(probe, _INSERT, {"id": row_id, "note": "second"})
    assert not refused.value.connection_invalidated
    assert isinstance(refused.value.orig, psycopg.errors.UniqueViolation)
    assert _count(probe) == 1
    assert direct.fetch_and_commit(probe, _INSERT, {"id": uuid.uuid4(), "note": "after"})  # the connection is fine


def test_inside_a_transaction_a_refused_statement_rolls_the_whole_transaction_back(probe: Engine) -> None:
    row_id = uuid.uuid4()
    with pytest.raises(IntegrityError), probe.connect() as conn, conn.begin():
        direct.joined(conn).fetch(_INSERT, {"id": row_id, "note": "kept only if committed"})
        direct.joined(conn).fetch(_INSERT, {"id": row_id, "note": "duplicate"})
    assert _count(probe) == 0


def _terminate_pooled_backends(engine: Engine, database_url: str) -> None:
    """Kill the server side of every pooled connection, as a database restart would."""
    with engine.connect() as conn:
        pids = [conn.execute(text("SELECT pg_backend_pid()")).scalar_one()]
    with psycopg.connect(normalize_url(database_url).replace("+psycopg", ""), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("mode", ["autocommit", "transaction", "sqlalchemy"])
def test_a_dead_connection_is_invalidated_and_the_next_call_gets_a_new_one(
    probe: Engine, database_url: str, mode: str
) -> None:
    probe.dispose()
    _terminate_pooled_backends(probe, database_url)  # the pool now holds one connection whose backend is gone
    with pytest.raises(OperationalError) as lost:
        if mode == "sqlalchemy":
            with probe.connect() as conn, conn.begin():
                direct.joined(conn).fetch(_INSERT, {"id": uuid.uuid4(), "note": "lost"})
        elif mode == "transaction":
            with direct.transaction(probe) as tx:
                tx.fetch(_INSERT, {"id": uuid.uuid4(), "note": "lost"})
        else:
            direct.fetch_and_commit(probe, _INSERT, {"id": uuid.uuid4(), "note": "lost"})
    assert lost.value.connection_invalidated
    row_id = uuid.uuid4()
    assert direct.fetch_and_commit(probe, _INSERT, {"id": row_id, "note": "fresh"}) == [(row_id, "fresh")]
    assert _count(probe) == 1


def test_a_transaction_commits_when_its_block_ends_and_rolls_back_when_it_raises(probe: Engine) -> None:
    heard: list[str | None] = []
    stop = direct.observe(probe, heard.append)
    with direct.transaction(probe) as tx:
        tx.fetch(_INSERT, {"id": uuid.uuid4(), "note": "one"})
        tx.fetch(_INSERT, {"id": uuid.uuid4(), "note": "two"})
    with pytest.raises(LookupError), direct.transaction(probe) as tx:
        tx.fetch(_INSERT, {"id": uuid.uuid4(), "note": "refused later"})
        raise LookupError("a refusal decided between statements")
    stop()
    assert _count(probe) == 2
    assert heard == [_INSERT.decode(), _INSERT.decode(), None, _INSERT.decode()]  # one COMMIT: the first block's
    with probe.connect() as conn:  # the connection went back clean: nothing of the rolled-back block is pending
        assert conn.execute(text("SELECT txid_current_if_assigned()")).scalar_one() is None


def test_a_row_object_works_in_a_fresh_process_before_any_mapper_is_configured() -> None:
    """row_object skips the constructor, which is what configured the mappers: it must do so itself."""
    program = (
        "from db.models import TradeOrder, row_object\n"
        "row = row_object(TradeOrder, {'account_id': 'DU1', 'status': 'SUBMITTING'})\n"
        "row.error_code = 'X'\n"
        "print(row.account_id, row.status, row.error_code, row.commission)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DU1", "SUBMITTING", "X", "None"]


def test_a_connection_used_in_autocommit_goes_back_to_the_pool_in_transaction_mode(probe: Engine) -> None:
    """fetch_and_commit runs its statement in autocommit; the next user of that connection must get transactions."""
    direct.fetch_and_commit(probe, _INSERT, {"id": uuid.uuid4(), "note": "autocommitted"})
    with probe.connect() as conn:  # LIFO pool: the same connection
        assert conn.connection.driver_connection.autocommit is False
        conn.execute(text(f"INSERT INTO {_TABLE} (id, note) VALUES (gen_random_uuid(), 'rolled back')"))
        conn.rollback()
    assert _count(probe) == 1


def test_a_database_that_cannot_be_reached_is_an_operational_error_as_sqlalchemy_raises_it() -> None:
    """The callers map OperationalError to DATABASE_UNAVAILABLE; the driver's own error would be INTERNAL_ERROR."""
    unreachable = make_engine("postgresql://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(OperationalError):
            direct.fetch_and_commit(unreachable, _INSERT, {"id": uuid.uuid4(), "note": "never"})
        with pytest.raises(OperationalError), direct.transaction(unreachable) as tx:
            tx.fetch(_INSERT, {"id": uuid.uuid4(), "note": "never"})
    finally:
        unreachable.dispose()
