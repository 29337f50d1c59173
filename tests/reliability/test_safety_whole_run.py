"""Across a whole run with orders off, or with the kill switch on, no order reaches either simulator."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.mcp.conftest import payload, tool_error
from tests.mcp.process import IBKR_ACCOUNT, broker_env, running_simulators, stdio_client

pytestmark = pytest.mark.timeout(300)
_client_ids = itertools.count(500)
PLACEMENT = re.compile(r"^/trade/(place|[0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


@pytest.mark.parametrize(
    ("rails", "expected"),
    [
        ({"ORDERS_ENABLED": "false"}, "SIMULATED"),
        ({"ORDERS_ENABLED": "true", "TRADING_KILL_SWITCH": "true"}, "TRADING_DISABLED"),
    ],
)
def test_no_placement_reaches_a_broker(
    rails: dict[str, str], expected: str, simulators: dict[str, Any], database_url: str,
    session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    gateway, snaptrade = simulators["gateway"], simulators["snaptrade"]
    ib_orders_before = len(gateway.orders)
    st_orders_before = snaptrade.placed_order_count
    snaptrade.clear_requests()
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="never", **rails)
    accounts = [IBKR_ACCOUNT, str(simulators["seeded"]["accounts"]["paper"])]

    async def whole_run() -> list[str]:
        outcomes: list[str] = []
        async with stdio_client(env) as client:
            listed = payload(await client.call_tool("list_tradeable_accounts", {}))
            assert {a["account_id"] for a in listed["accounts"]} >= set(accounts)
            for account in accounts:
                for order in (
                    {"ticker": "AAPL", "side": "BUY", "quantity": 2},
                    {"ticker": "MSFT", "side": "BUY", "quantity": 1, "order_type": "Limit", "limit_price": "300"},
                ):
                    preview = payload(await client.call_tool("preview_trade", {"account_id": account, **order}))
                    result = await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]})
                    outcomes.append(tool_error(result)["error_code"] if result.is_error
                                    else payload(result)["status"])
        return outcomes

    assert anyio.run(whole_run) == [expected] * 4
    assert len(gateway.orders) == ib_orders_before
    assert snaptrade.placed_order_count == st_orders_before
    assert not [r for r in snaptrade.requests if r.method == "POST" and PLACEMENT.match(r.path)]
