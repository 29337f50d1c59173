"""A fresh PostgreSQL database per test run: TEST_DATABASE_URL, else Docker, else embedded.

Migrated databases are copies of a template database that was migrated once per set of
migration files (`CREATE DATABASE ... TEMPLATE`), so a run does not pay for the migrations.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import migrations
from db import migrate
from db.embedded import embedded_server_url
from db.engine import normalize_url

_TEMPLATE_LOCK = 7_300_417  # advisory lock key: one process builds a missing template at a time


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _migrations_digest() -> str:
    """Names the template after the migration files' content: a changed migration gets a new template."""
    digest = hashlib.sha256()
    for path in sorted(Path(migrations.__file__).parent.rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _migrated_template(server_url: str) -> str:
    """The name of a migrated template database on the server, building it first if it is missing."""
    name = f"tradeexec_template_{_migrations_digest()}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _TEMPLATE_LOCK})
            try:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                if exists is None:
                    building = f"{name}_building_{uuid.uuid4().hex[:6]}"
                    conn.execute(text(f'CREATE DATABASE "{building}"'))
                    url = make_url(normalize_url(server_url)).set(database=building)
                    migrate.upgrade(url.render_as_string(hide_password=False))
                    conn.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))  # published when complete
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _TEMPLATE_LOCK})
    finally:
        admin.dispose()
    return name


@contextlib.contextmanager
def _fresh_database(server_url: str, *, migrated: bool = False) -> Iterator[str]:
    """Create a uniquely named database on a server (a copy of the migrated template) and drop it afterwards."""
    name = f"tradeexec_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_migrated_template(server_url)}"' if migrated else ""
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
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
def fresh_test_database(*, migrated: bool = False) -> Iterator[str]:
    """An empty database, or with migrated=True one at the migrations' head (copied from a template)."""
    with test_server_url() as server, _fresh_database(server, migrated=migrated) as url:
        yield url
