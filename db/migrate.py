"""Run the Alembic branch programmatically (CLI, tests, the demo) without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

import migrations
from db import adoption
from db.adoption import AdoptionPlan
from db.engine import one_shot_engine

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
    engine = one_shot_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision_on(conn)
    finally:
        engine.dispose()


def current_revision_on(conn: Connection) -> str | None:
    own = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    if own is not None or not inspect(conn).has_table(HOST_VERSION_TABLE):
        return own
    host = MigrationContext.configure(conn, opts={"version_table": HOST_VERSION_TABLE})
    ours = [rev for rev in host.get_current_heads() if rev in branch_revisions()]
    return ours[0] if ours else None


def upgrade_or_adopt(url: str, revision: str = HEAD) -> AdoptionPlan | None:
    """Upgrade; returns the adoption plan when te0001 adopted the platform's existing tables.

    Raises AdoptionRefused, with nothing changed, when those tables cannot be adopted safely.
    """
    engine = one_shot_engine(url)
    adopted: AdoptionPlan | None = None
    try:
        with engine.connect() as conn:
            if adoption.needs_adoption(conn):
                adopted = adoption.plan(conn)
                if adopted.blockers:
                    raise adoption.AdoptionRefused("; ".join(adopted.blockers))
    finally:
        engine.dispose()
    upgrade(url, revision)
    return adopted


DROPPED_TABLES = {
    "te0009_modify": ("trade_modifications",),
    "te0003_ui": ("trade_approvals",), "te0002": ("trade_events",), "te0001": ("trade_orders", "trade_previews"),
}
"""Tables created by a revision, whose rows its downgrade deletes."""


def rows_deleted_by_downgrade(url: str, target: str) -> dict[str, int]:
    """How many rows a downgrade to `target` would delete, per table (for the CLI's warning)."""
    current = current_revision(url)
    if current is None:
        return {}
    script = ScriptDirectory.from_config(alembic_config(url))
    try:
        undone = [rev.revision for rev in script.iterate_revisions(current, target)] if target != current else []
    except Exception:  # an unusual target (relative, a label): Alembic itself reports it when it runs
        return {}
    engine = one_shot_engine(url)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for revision in undone:
                for table in DROPPED_TABLES.get(revision, ()):
                    if inspect(conn).has_table(table):
                        counts[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()
    return {t: n for t, n in counts.items() if n}
