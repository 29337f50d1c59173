"""The Alembic branch: upgrade from empty, legacy rows survive, downgrade and back, models match."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import migrate
from db.models import Base, TradePreview
from mcp_tools.runtime import schema_head
from tests.support.database import fresh_test_database


@pytest.fixture
def empty_url() -> Iterator[str]:
    with fresh_test_database() as url:
        yield url


def _exec(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head(empty_url: str) -> None:
    assert migrate.current_revision(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == schema_head()
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"trade_previews", "trade_orders", "trade_events"} <= tables


def test_models_match_migrated_schema(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: not (
                    kind == "table" and name == migrate.VERSION_TABLE
                ),
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_legacy_rows_read_back_as_snaptrade_rows(empty_url: str) -> None:
    migrate.upgrade(empty_url, "te0001")
    preview_id, order_id = uuid.uuid4(), uuid.uuid4()
    _exec(
        empty_url,
        "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, limit_price, "
        "universal_symbol_id, snaptrade_trade_id, estimated_price, status, expires_at) VALUES "
        "(:id, 'acc-1', 'AAPL', 'BUY', 10.5, 'Limit', 189.25, 'usid-aapl', 'trade-1', 189.30, 'EXECUTED', now())",
        id=preview_id,
    )
    _exec(
        empty_url,
        "INSERT INTO trade_orders (id, preview_id, account_id, brokerage_order_id, status, filled_quantity, "
        "average_fill_price, brokerage_response) VALUES (:id, :pid, 'acc-1', 'B-77', 'PARTIAL_CANCELED', 4, "
        "189.2, '{\"raw\": 1}')",
        id=order_id,
        pid=preview_id,
    )
    migrate.upgrade(empty_url)
    preview = _exec(
        empty_url,
        "SELECT broker_provider, broker_symbol_id, snaptrade_trade_id, quantity, limit_price, broker_preview_data "
        "FROM trade_previews WHERE id = :id",
        id=preview_id,
    )[0]
    assert preview == ("snaptrade", "usid-aapl", "trade-1", Decimal("10.5"), Decimal("189.25"), {})
    order = _exec(
        empty_url,
        "SELECT broker_provider, brokerage_order_id, status, filled_quantity, brokerage_response "
        "FROM trade_orders WHERE id = :id",
        id=order_id,
    )[0]
    assert order == (
        "snaptrade", "B-77", "CANCELED", Decimal("4"), {"raw": 1, "legacy_status": "PARTIAL_CANCELED"},
    )


def test_downgrade_to_first_revision_and_back_keeps_data(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    preview_id = uuid.uuid4()
    _exec(
        empty_url,
        "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, broker_symbol_id, "
        "expires_at) VALUES (:id, 'acc-2', 'MSFT', 'SELL', 3, 'Market', 'usid-msft', now())",
        id=preview_id,
    )
    migrate.downgrade(empty_url, "te0001")
    assert migrate.current_revision(empty_url) == "te0001"
    assert _exec(empty_url, "SELECT universal_symbol_id FROM trade_previews WHERE id = :id", id=preview_id) == [
        ("usid-msft",)
    ]
    migrate.upgrade(empty_url)
    assert _exec(empty_url, "SELECT broker_symbol_id, broker_provider FROM trade_previews WHERE id = :id",
                 id=preview_id) == [("usid-msft", "snaptrade")]
    migrate.downgrade(empty_url, "base")
    assert migrate.current_revision(empty_url) is None


def test_downgrade_refuses_to_drop_ibkr_rows(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    _exec(
        empty_url,
        "INSERT INTO trade_previews (id, account_id, broker_provider, ticker, side, quantity, order_type, "
        "expires_at) VALUES (:id, 'DU1', 'ibkr', 'AAPL', 'BUY', 1, 'Market', now())",
        id=uuid.uuid4(),
    )
    with pytest.raises(RuntimeError, match="non-SnapTrade"):
        migrate.downgrade(empty_url, "te0001")
    assert migrate.current_revision(empty_url) == "te0002"  # te0003_dropin was undone, te0002 refused


def test_existing_deployment_stamps_first_revision_then_upgrades(empty_url: str) -> None:
    """A platform that already has the SnapTrade-era tables (created outside this branch)."""
    migrate.upgrade(empty_url, "te0001")
    _exec(empty_url, f"DROP TABLE {migrate.VERSION_TABLE}")
    assert migrate.current_revision(empty_url) is None
    migrate.stamp(empty_url, "te0001")
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == schema_head()


def test_database_constraints_reject_bad_rows(db_session: Session) -> None:
    bad = TradePreview(
        id=uuid.uuid4(), account_id="a", ticker="X", side="HOLD", quantity=Decimal(1), order_type="Market",
        expires_at=datetime.now(UTC),
    )
    db_session.add(bad)
    with pytest.raises(IntegrityError, match="ck_trade_previews_side"):
        db_session.flush()


def test_approvals_revision_downgrades_and_upgrades_again(empty_url: str) -> None:
    migrate.upgrade(empty_url, "te0003_ui")
    _exec(empty_url, "INSERT INTO trade_approvals (id, preview_id, account_id, broker_provider, is_paper, "
                     "expires_at) VALUES (:id, :pid, 'A1', 'snaptrade', true, now())",
          id=uuid.uuid4(), pid=uuid.uuid4())
    with pytest.raises(Exception, match="ck_trade_approvals_status"):
        _exec(empty_url, "UPDATE trade_approvals SET status = 'MAYBE'")
    migrate.downgrade(empty_url, "te0002")
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    assert "trade_approvals" not in set(inspect(engine).get_table_names())
    engine.dispose()
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == schema_head()


def test_order_options_revision_refuses_to_drop_advanced_previews(empty_url: str) -> None:
    migrate.upgrade(empty_url, "te0004_ibkr")
    _exec(empty_url, "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, expires_at) "
                     "VALUES (:id, 'DU1', 'AAPL', 'BUY', 1, 'TrailingStopLimit', now())", id=uuid.uuid4())
    with pytest.raises(Exception, match="refusing to downgrade"):
        migrate.downgrade(empty_url, "te0004_recon")
    _exec(empty_url, "DELETE FROM trade_previews")
    migrate.downgrade(empty_url, "te0004_recon")
    with pytest.raises(Exception, match="ck_trade_previews_order_type"):
        _exec(empty_url, "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, "
                         "expires_at) VALUES (:id, 'DU1', 'AAPL', 'BUY', 1, 'MarketOnOpen', now())", id=uuid.uuid4())
    migrate.upgrade(empty_url, "te0004_ibkr")
    assert migrate.current_revision(empty_url) == "te0004_ibkr"
