"""Run the Alembic branch programmatically (CLI, tests, the demo) without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, pool

import migrations

HEAD = "trade_execution@head"
VERSION_TABLE = "tradeexec_alembic_version"
HOST_VERSION_TABLE = "alembic_version"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = HEAD) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def stamp(url: str, revision: str) -> None:
    command.stamp(alembic_config(url), revision)


def branch_revisions() -> set[str]:
    """Every revision of this module's branch (to recognise them in a host's version table)."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return {rev.revision for rev in script.walk_revisions()}


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return script.get_revisions(HEAD)[0].revision


def current_revision(url: str) -> str | None:
    """This branch's applied revision: from its own version table, or from the host's `alembic_version`
    when the branch is mounted in a host's Alembic environment (README, "Mounting")."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            own = ctx.get_current_revision()
            if own is not None:
                return own
            if not inspect(conn).has_table(HOST_VERSION_TABLE):
                return None
            host = MigrationContext.configure(conn, opts={"version_table": HOST_VERSION_TABLE})
            ours = [rev for rev in host.get_current_heads() if rev in branch_revisions()]
            return ours[0] if ours else None
    finally:
        engine.dispose()
