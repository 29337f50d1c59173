"""A fresh PostgreSQL database per test run: TEST_DATABASE_URL, else Docker, else embedded."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.embedded import embedded_server_url
from db.engine import normalize_url


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named database on a server and drop it afterwards."""
    name = f"tradeexec_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(server_url)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def test_server_url() -> Iterator[str]:
    """Yield the URL of a server's maintenance database, in the order the README documents."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        yield explicit
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    data_dir = Path(os.environ.get("TRADEEXEC_TEST_DATA_DIR") or tempfile.gettempdir()) / "tradeexec-test-pg"
    yield embedded_server_url(data_dir)


@contextlib.contextmanager
def fresh_test_database() -> Iterator[str]:
    with test_server_url() as server, _fresh_database(server) as url:
        yield url
