"""`tradeexec replay`: a session recorded through the API replays on fresh simulators with no differences."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent
from tests.api.conftest import client, error_of, paper_account
from tests.api.process import ApiProcess
from tests.mcp.process import IBKR_ACCOUNT, run_cli
from tests.support.database import fresh_test_database

pytestmark = pytest.mark.timeout(400)


def record_session(server: ApiProcess, simulators: dict[str, Any]) -> None:
    """Previews on both brokers, executes, a duplicate execute, a refused preview, a refused execute."""
    paper = paper_account(simulators)
    with client(server) as http:
        ids = []
        for account, ticker, quantity in ((paper, "SPY", "2"), (IBKR_ACCOUNT, "AAPL", "3"), (paper, "AAPL", "1")):
            made = http.post("/v1/previews", json={"account_id": account, "ticker": ticker, "side": "BUY",
                                                   "quantity": quantity, "order_type": "Limit", "limit_price": "1"})
            assert made.status_code == 201, made.text
            ids.append(made.json()["preview_id"])
        for preview_id in ids[:2]:
            assert http.post("/v1/executions", json={"preview_id": preview_id}).status_code == 200
        error_of(http.post("/v1/executions", json={"preview_id": ids[0]}), 409, "ALREADY_EXECUTED")
        refused = http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "BUY",
                                                  "quantity": "1000"})
        assert refused.status_code == 422, refused.text  # MAX_ORDER_NOTIONAL


def test_recorded_session_replays_without_differences(
    server: ApiProcess, simulators: dict[str, Any], env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    started = datetime.now(UTC).isoformat()
    record_session(server, simulators)
    # Scratch databases are copies of the migrated template: replay finds them at head (migrations have their
    # own tests), so neither run pays for a migration.
    with fresh_test_database(migrated=True) as scratch:
        result = run_cli("replay", "--since", started, "--scratch-url", scratch, "--json", env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["differences"] == []
    assert report["replayed"] == 4 + 3  # four previews, three executes
    assert report["skipped"] == 0

    # A recorded outcome that today's code would not reproduce is reported, with exit 1.
    with session_factory() as session, session.begin():
        session.execute(update(TradeEvent).where(TradeEvent.event_type == "ORDER_SUBMITTED")
                        .values(status="REJECTED"))
    with fresh_test_database(migrated=True) as scratch:
        changed = run_cli("replay", "--since", started, "--scratch-url", scratch, "--json", env=env, timeout=300)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    differences = json.loads(changed.stdout)["differences"]
    assert {d["recorded"] for d in differences} == {"status REJECTED"}
    assert len(differences) == 2
