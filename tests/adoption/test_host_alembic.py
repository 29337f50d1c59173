"""A throwaway host project mounts the branch in its own Alembic environment (README, "Mounting")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from db import migrate
from db.alembic_host import VERSIONS_DIR
from db.engine import make_engine, make_session_factory, normalize_url
from tests.adoption.legacy import execute, seed
from tests.mcp.process import REPO, base_env, run_cli
from tests.support.database import fresh_test_database

ALEMBIC_INI = """[alembic]
script_location = %(here)s/host_migrations
version_locations = %(here)s/host_migrations/versions{sep}{module_versions}
path_separator = os
sqlalchemy.url = {url}
"""
ENV_PY = '''
from alembic import context
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, pool

from db.alembic_host import include_name, include_object

metadata = MetaData()
Table("platform_users", metadata, Column("id", Integer, primary_key=True), Column("email", String(254)))
config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, include_name=include_name,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
'''
HOST_REVISION = '''
"""platform users"""
import sqlalchemy as sa
from alembic import op

revision = "host0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("platform_users", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("email", sa.String(254)))


def downgrade():
    op.drop_table("platform_users")
'''


def _host(tmp_path: Path, url: str) -> Path:
    root = tmp_path / "host"
    versions = root / "host_migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(ALEMBIC_INI.format(sep=os.pathsep, module_versions=VERSIONS_DIR,
                                                         url=normalize_url(url).replace("%", "%%")))
    (root / "host_migrations" / "env.py").write_text(ENV_PY)
    (root / "host_migrations" / "script.py.mako").write_text("")
    (versions / "host0001_users.py").write_text(HOST_REVISION)
    return root


def _alembic(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), *argv],
                          check=False, capture_output=True, text=True, env=env, cwd=root, timeout=120)


@pytest.mark.parametrize("variant", ["status", "order_status"])
def test_host_upgrades_heads_over_snaptrade_era_tables(tmp_path: Path, variant: str) -> None:
    with fresh_test_database() as url:
        ids = seed(url, variant)
        root = _host(tmp_path, url)
        upgraded = _alembic(root, "upgrade", "heads")
        assert upgraded.returncode == 0, upgraded.stderr
        heads = {r[0] for r in execute(url, "SELECT version_num FROM alembic_version")}
        assert heads == {"host0001", migrate.head_revision()}
        assert migrate.current_revision(url) == migrate.head_revision()  # recognised through the host's table

        checked = _alembic(root, "check")  # the host's autogenerate leaves the module's tables alone
        assert checked.returncode == 0, checked.stdout + checked.stderr

        env = base_env(DATABASE_URL=url, HOME=str(tmp_path))
        current = run_cli("db", "current", "--json", env=env)
        assert current.returncode == 0 and '"up_to_date": true' in current.stdout

        from mcp_tools.runtime import prepare_database
        from settings import Settings

        assert prepare_database(Settings(_env_file=None, DATABASE_URL=url, BROKERS=""))  # mcp start-up check

        engine = make_engine(url, pool_size=2)
        try:
            with make_session_factory(engine)() as session:
                from db.models import TradeOrder

                row = session.get(TradeOrder, ids["order"])
                assert row is not None and row.status == "CANCELED" and row.order_status == "PARTIAL_CANCELED"
        finally:
            engine.dispose()

        down = _alembic(root, "downgrade", "te0002")
        assert down.returncode == 0, down.stderr
        assert migrate.current_revision(url) == "te0002"
        refused = _alembic(root, "downgrade", "trade_execution@base")
        assert refused.returncode != 0 and "never dropped" in refused.stderr
        assert execute(url, "SELECT count(*) FROM trade_orders") == [(2,)]
        assert _alembic(root, "upgrade", "heads").returncode == 0
