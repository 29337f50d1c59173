"""A throw-away database for one bench run, never the operator's.

The bench loads up to a million rows and places orders on fake brokers, so it always
creates its own uniquely named database on a server and drops it afterwards. The server
is, in order: the URL passed in (the smoke test passes the test database's), then
BENCH_DATABASE_URL, then an embedded PostgreSQL under a bench-only data directory
(not TRADEEXEC_DATA_DIR: the bench must not grow the operator's database).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from db import direct, migrate
from db.embedded import embedded_server_url
from db.engine import normalize_url


def bench_server_url(explicit: str | None = None) -> tuple[str, str]:
    """(server URL, where it came from)."""
    if explicit:
        return normalize_url(explicit), "database_url argument"
    from_env = os.environ.get("BENCH_DATABASE_URL")
    if from_env:
        return normalize_url(from_env), "BENCH_DATABASE_URL"
    data_dir = Path(os.environ.get("TRADEEXEC_BENCH_DATA_DIR") or Path(tempfile.gettempdir()) / "tradeexec-bench-pg")
    return embedded_server_url(data_dir), f"embedded PostgreSQL in {data_dir}"


@contextlib.contextmanager
def fresh_bench_database(server_url: str) -> Iterator[str]:
    """Create a migrated database named tradeexec_bench_<random> on the server; drop it on exit."""
    name = f"tradeexec_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        try:
            migrate.upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one())


class StatementCounter:
    """Counts statements and commits an engine sends: work per call is a count, not a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements = 0
        self.commits = 0
        self.recorded: list[tuple[str, object]] = []
        self.record = False
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._on_execute)
        event.listen(engine, "commit", self._on_commit)
        self._unobserve = direct.observe(engine, self._on_direct)  # statements sent past SQLAlchemy (db/direct.py)

    def _on_execute(self, _conn: object, _cursor: object, statement: str, parameters: object,
                    _context: object, _executemany: bool) -> None:
        with self._lock:
            self.statements += 1
            if self.record:
                self.recorded.append((statement, parameters))

    def _on_direct(self, statement: str | None) -> None:
        if statement is None:
            self._on_commit(None)
        else:
            self._on_execute(None, None, statement, None, None, False)

    def _on_commit(self, _conn: object) -> None:
        with self._lock:
            self.commits += 1

    def reset(self) -> None:
        self.statements = 0
        self.commits = 0
        self.recorded = []

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        event.remove(self.engine, "commit", self._on_commit)
        self._unobserve()
