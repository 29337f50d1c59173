"""SIGTERM during a placement, against a real `tradeexec mcp` subprocess over stdio.

The server stops taking calls, lets the execute in flight finish (the broker answers after a
few seconds), answers it, and exits cleanly: the order is recorded as what the broker says,
not left SUBMITTING as after a crash.
"""

from __future__ import annotations

import itertools
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp_types import CallToolResult
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder
from tests.mcp.conftest import payload
from tests.mcp.process import broker_env, stdio_client
from tests.reliability.test_crash_matrix import mcp_server_pid, simulators

__all__ = ["simulators"]

_client_ids = itertools.count(700)
PLACEMENT = r"^/trade/[0-9a-f-]{36}$"


def test_sigterm_over_stdio_answers_the_placement_in_flight_then_exits(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sim = simulators["snaptrade"]
    account = str(simulators["seeded"]["accounts"]["paper"])
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="never")

    async def main() -> tuple[CallToolResult, Any, int | None]:
        async with stdio_client(env) as client:
            preview = payload(await client.call_tool(
                "preview_trade", {"account_id": account, "ticker": "MSFT", "side": "BUY", "quantity": 1}))
            pid = mcp_server_pid()
            before = sim.placed_order_count
            sim.inject_fault(method="POST", path_regex=PLACEMENT, status=None, process=True, hang_seconds=4)
            answers: dict[str, Any] = {}
            async with anyio.create_task_group() as group:

                async def execute() -> None:
                    answers["execute"] = await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]})

                group.start_soon(execute)
                with anyio.fail_after(30):
                    while sim.placed_order_count == before:  # the broker has the order; its answer is pending
                        await anyio.sleep(0.02)
                os.kill(pid, signal.SIGTERM)
                answers["late"] = await refused_call(client)
            code = await anyio.to_thread.run_sync(lambda: psutil.Process(pid).wait(timeout=30))
            return answers["execute"], answers["late"], code

    execute, late, exit_code = anyio.run(main)
    result = payload(execute)
    assert result["status"] == "EXECUTED" and result["brokerage_order_id"]
    assert getattr(late, "is_error", False), f"a call made after SIGTERM was not refused: {late!r}"
    assert late.structured_content["error_code"] == "SHUTTING_DOWN"  # a structured refusal, not INTERNAL_ERROR
    # wait() raised TimeoutExpired had it not exited; psutil answers None instead of the code when the stdio
    # transport reaped its child first (a race seen under CI), so only a code it did see must be 0.
    assert exit_code in (0, None)
    with session_factory() as session:
        [row] = session.execute(
            select(TradeOrder).where(TradeOrder.preview_id == uuid.UUID(result["preview_id"]))).scalars()
    assert row.status == "EXECUTED" and row.brokerage_order_id == result["brokerage_order_id"]


async def refused_call(client: Any) -> Any:
    """Once the server has taken the signal, a new call is answered with a tool error (SHUTTING_DOWN)."""
    with anyio.fail_after(10):
        while True:
            answer = await client.call_tool("get_orders", {"state": "open"})
            if answer.is_error:
                return answer
            await anyio.sleep(0.05)
