"""`db upgrade` adopts a platform's SnapTrade-era tables (both variants), or refuses with one line."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from brokers.models import BrokerProvider
from db import migrate
from db.adoption import AdoptionRefused
from db.engine import make_engine, make_session_factory
from services.trade_execution import TradeExecutionService
from settings import Settings
from tests.adoption.legacy import execute, seed
from tests.mcp.process import base_env, run_cli
from tests.support.database import fresh_test_database
from tests.support.memory_broker import MemoryBroker


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_test_database() as created:
        yield created


@pytest.mark.parametrize("variant", ["status", "order_status"])
def test_adoption_keeps_rows_and_the_platform_sql(url: str, variant: str) -> None:
    ids = seed(url, variant)
    adopted = migrate.upgrade_or_adopt(url)
    assert adopted is not None and adopted.variant == variant and adopted.blockers == []
    fixed = " | ".join(adopted.differences)
    assert "trade_previews.quantity is numeric: converted to numeric" in fixed
    if variant == "status":
        assert "UNIQUE(trade_orders.preview_id) missing: added" in fixed and "index on trade_orders" in fixed
    else:
        assert "renamed to status" in fixed and "impact missing: added" in fixed
        assert "brokerage_response is json: converted to jsonb" in fixed
    assert migrate.current_revision(url) == migrate.head_revision()

    # the rows read back through the service
    broker = MemoryBroker(BrokerProvider.SNAPTRADE)
    broker.add_account("acc-1")
    engine = make_engine(url, pool_size=2)
    service = TradeExecutionService(Settings(_env_file=None, BROKERS=""), make_session_factory(engine), [broker])
    try:
        done = service.get_order_status(str(ids["order"]))
        assert (done.order_status, done.filled_quantity, done.average_fill_price) == ("CANCELED", 4, Decimal("189.2"))
        assert done.ticker == "AAPL" and done.limit_price == Decimal("189.25")
        listed = service.get_orders("acc-1", state="executed", days=1)
        assert [v.order_id for v in listed] == [str(ids["order"])]
    finally:
        service.close()
        engine.dispose()

    # the platform's own SQL keeps working: its names, its legacy statuses
    assert execute(url, "SELECT order_status, status FROM trade_orders WHERE id = :id", id=ids["working"]) == [
        ("CANCEL_PENDING", "ACCEPTED")]
    execute(url, "UPDATE trade_orders SET order_status = 'REPLACED' WHERE id = :id", id=ids["working"])
    assert execute(url, "SELECT order_status, status FROM trade_orders WHERE id = :id", id=ids["working"]) == [
        ("REPLACED", "CANCELED")]
    execute(url, "UPDATE trade_orders SET status = 'EXECUTED' WHERE id = :id", id=ids["working"])
    assert execute(url, "SELECT order_status FROM trade_orders WHERE id = :id", id=ids["working"]) == [("EXECUTED",)]
    new = uuid.uuid4()
    execute(url, "INSERT INTO trade_previews (id, account_id, ticker, side, quantity, order_type, "
                 "universal_symbol_id, expires_at) VALUES (:id, 'acc-1', 'MSFT', 'SELL', 1, 'Market', 'usid-x', now())",
            id=new)
    assert execute(url, "SELECT universal_symbol_id, broker_symbol_id FROM trade_previews WHERE id = :id",
                   id=new) == [("usid-x", "usid-x")]
    execute(url, "INSERT INTO trade_orders (id, preview_id, account_id, order_status) VALUES "
                 "(:id, :pid, 'acc-1', 'CANCEL_PENDING')", id=uuid.uuid4(), pid=new)

    # never drop what the platform owned
    with pytest.raises(RuntimeError, match="never dropped"):
        migrate.downgrade(url, "base")
    assert execute(url, "SELECT count(*) FROM trade_previews") == [(3,)]


def test_duplicate_preview_ids_refuse_and_change_nothing(url: str) -> None:
    seed(url, "status", duplicate=True)
    with pytest.raises(AdoptionRefused, match=r"1 preview id\(s\) have several orders"):
        migrate.upgrade_or_adopt(url)
    assert migrate.current_revision(url) is None
    assert execute(url, "SELECT obj_description('trade_previews'::regclass, 'pg_class')") == [(None,)]
    assert execute(url, "SELECT data_type FROM information_schema.columns WHERE table_name = 'trade_previews' "
                        "AND column_name = 'quantity'") == [("numeric",)]


def test_cli_adopts_or_refuses_in_one_line(url: str, tmp_path: object) -> None:
    seed(url, "status", duplicate=True)
    env = base_env(DATABASE_URL=url, HOME=str(tmp_path))
    refused = run_cli("db", "upgrade", env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr + refused.stdout
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot adopt" in lines[0] and "nothing changed" in lines[0]
    execute(url, "DELETE FROM trade_orders WHERE brokerage_order_id IS NULL")
    adopted = run_cli("db", "upgrade", "--json", env=env)
    assert adopted.returncode == 0, adopted.stderr
    assert "\"variant\": \"status\"" in adopted.stdout
    downgrade = run_cli("db", "downgrade", "base", env=env)
    assert downgrade.returncode == 1 and "2 trade_orders row(s)" in downgrade.stderr
    below = run_cli("db", "downgrade", "base", "--yes", env=env)
    assert below.returncode == 2 and "never dropped" in below.stderr and "Traceback" not in below.stderr
