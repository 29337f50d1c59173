"""Issue 10.1: what the human confirms is what executes, through `tradeexec mcp` (stdio), the IB Gateway
simulator and PostgreSQL.

A padded preview_id used to be judged "nothing to confirm" by the prompt and then placed by execute.
Now every id is parsed once, strictly, at the tool edge; refusals that need no human are decided first.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import ElicitResult
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradeEvent, TradeOrder
from tests.mcp.conftest import payload, tool_error
from tests.mcp.process import IBKR_ACCOUNT, broker_env, running_simulators, stdio_client

pytestmark = pytest.mark.timeout(240)

PADDINGS = [(" ", ""), ("", "\t"), ("", "\n"), ("\t", " "), ("{", "}"), ("", " ")]
_client_ids = itertools.count(300)


class DecliningHuman:
    """Says no to every prompt and remembers what it was shown."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="decline")


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def server_env(database_url: str, simulators: dict[str, Any], tmp_path: Path, **overrides: str) -> dict[str, str]:
    return broker_env(database_url, simulators, tmp_path, next(_client_ids), **overrides)


async def call(client: Any, tool: str, **arguments: Any) -> Any:
    return await client.call_tool(tool, arguments)


@pytest.mark.parametrize("confirmation", ["auto", "always"])
def test_a_padded_preview_id_is_refused_before_any_prompt_and_places_nothing(
    database_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session], tmp_path: Path,
    confirmation: str,
) -> None:
    human = DecliningHuman()
    placed_before = simulators["gateway"].placed_order_count

    async def main() -> tuple[str, list[Any], Any, list[Any]]:
        env = server_env(database_url, simulators, tmp_path, EXECUTE_CONFIRMATION=confirmation)
        async with stdio_client(env, elicitation_callback=human) as client:
            shown = payload(await call(client, "preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY",
                                       quantity=1))
            pid = shown["preview_id"]
            padded_first = [await call(client, "execute_trade", preview_id=a + pid + b) for a, b in PADDINGS]
            declined = await call(client, "execute_trade", preview_id=pid)
            padded_after = [await call(client, "execute_trade", preview_id=a + pid + b) for a, b in PADDINGS]
            return pid, padded_first, declined, padded_after

    pid, padded_first, declined, padded_after = anyio.run(main)
    for result in padded_first + padded_after:
        error = tool_error(result)
        assert error["error_code"] == ErrorCode.VALIDATION_ERROR
        assert error["details"]["problems"][0]["field"] == "preview_id"
    assert tool_error(declined)["error_code"] == ErrorCode.CONFIRMATION_DECLINED
    assert len(human.asked) == 1 and pid in human.asked[0]  # asked once: for the plain id, which was declined
    assert simulators["gateway"].placed_order_count == placed_before
    with session_factory() as session:
        assert session.execute(select(TradeOrder)).first() is None
        events = session.execute(select(TradeEvent.event_type)).scalars().all()
    assert "EXECUTE_REQUESTED" not in events and "EXECUTE_DECLINED" in events


def test_a_refusal_that_needs_no_human_is_decided_before_asking(
    database_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    """Kill switch on, and an unknown preview: the human is never asked about an order that would be refused."""
    human = DecliningHuman()
    kill_switch = tmp_path / "STOP"

    async def main() -> tuple[Any, Any]:
        env = server_env(database_url, simulators, tmp_path, EXECUTE_CONFIRMATION="always",
                         TRADING_KILL_SWITCH_FILE=str(kill_switch))
        async with stdio_client(env, elicitation_callback=human) as client:
            shown = payload(await call(client, "preview_trade", account_id=IBKR_ACCOUNT, ticker="AAPL", side="BUY",
                                       quantity=1))
            unknown = await call(client, "execute_trade", preview_id="00000000-0000-4000-8000-000000000000")
            kill_switch.write_text("stop")
            stopped = await call(client, "execute_trade", preview_id=shown["preview_id"])
            return stopped, unknown

    stopped, unknown = anyio.run(main)
    assert tool_error(stopped)["error_code"] == ErrorCode.TRADING_DISABLED
    assert tool_error(unknown)["error_code"] == ErrorCode.PREVIEW_NOT_FOUND
    assert human.asked == []
    with session_factory() as session:
        refused = session.execute(select(TradeEvent.error_code).where(TradeEvent.event_type == "EXECUTE_REFUSED"))
        assert sorted(refused.scalars().all()) == [ErrorCode.PREVIEW_NOT_FOUND, ErrorCode.TRADING_DISABLED]
