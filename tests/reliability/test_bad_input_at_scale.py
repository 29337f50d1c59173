"""Ten thousand hypothesis-generated tool calls through a real MCP client session: every answer
is a result or a coded tool error, none is an unhandled error, and no order row is ever written."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeOrder
from tests.mcp.conftest import ServerFactory
from tests.support.memory_broker import MemoryBroker

pytestmark = pytest.mark.timeout(900)

CALLS = 10_000
PARAMETERS: dict[str, list[str]] = {
    "list_tradeable_accounts": [],
    "search_symbol": ["account_id", "ticker"],
    "get_quote": ["account_id", "ticker"],
    "get_account_balance": ["account_id"],
    "get_positions": ["account_id"],
    "preview_trade": ["account_id", "ticker", "side", "quantity", "order_type", "limit_price", "stop_price",
                      "time_in_force"],
    "execute_trade": ["preview_id"],
    "get_orders": ["account_id", "state", "days"],
    "get_order_status": ["order_id"],
    "cancel_order": ["order_id"],
    "execute_trades": ["preview_ids"],
}
PLAUSIBLE = st.sampled_from([
    "DU111", "st-acct-1", "AAPL", "MSFT", "BUY", "SELL", "Market", "Limit", "Stop", "StopLimit", "Day", "GTC",
    "IOC", "FOK", "all", "open", "executed", "00000000-0000-0000-0000-000000000000", "1", "0", "-1", "1e308",
    "NaN", "Infinity", "' OR '1'='1", "AAPL; DROP TABLE trade_orders", "\u0000", "\u202e", "", " ",
])
VALUES = st.one_of(
    PLAUSIBLE, st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(PARAMETERS)))
    names = PARAMETERS[tool]
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    arguments = {name: draw(VALUES) for name in chosen}
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return tool, arguments


@pytest.fixture
def session(make_server: ServerFactory) -> Iterator[tuple[BlockingPortal, Client]]:
    with start_blocking_portal() as portal:
        client = Client(make_server(), mode="legacy")
        with portal.wrap_async_context_manager(client) as entered:
            yield portal, entered


def test_ten_thousand_generated_calls(
    session: tuple[BlockingPortal, Client], session_factory: sessionmaker[Session],
    ibkr: MemoryBroker, snaptrade: MemoryBroker,
) -> None:
    portal, client = session
    outcomes: Counter[str] = Counter()

    @settings(max_examples=CALLS, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=tool_calls())
    def one_call(call: tuple[str, dict[str, Any]]) -> None:
        tool, arguments = call
        result = portal.call(client.call_tool, tool, arguments)
        text = result.content[0].text if result.content and result.content[0].type == "text" else ""
        assert "Traceback" not in text
        body = json.loads(text)
        if result.is_error:
            assert set(body) == {"error_code", "message", "details"}, body
            assert body["error_code"] in ErrorCode.__members__ and body["error_code"] != "INTERNAL_ERROR", body
            outcomes[body["error_code"]] += 1
        else:
            outcomes["ok"] += 1

    one_call()
    assert sum(outcomes.values()) >= CALLS
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(TradeOrder)).scalar_one() == 0
    assert ibkr.place_calls == 0 and snaptrade.place_calls == 0
    assert outcomes["VALIDATION_ERROR"] > CALLS // 4  # the generator mostly makes bad input, as intended
