"""SIGTERM during a placement over HTTP: real `tradeexec mcp --transport http` and `tradeexec api` subprocesses.

The IB Gateway simulator holds its acknowledgement for a few seconds, and the signal arrives while
the gateway has the order and the execute waits for its answer. The server keeps listening: a call
made after the signal is answered SHUTTING_DOWN (nothing done); the execute in flight finishes and
is answered with its order; then the process exits 0, its service closed.
"""

from __future__ import annotations

import itertools
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder
from tests.api.process import LISTENING as API_LISTENING
from tests.api.process import wait_ready
from tests.ibkr.conftest import wait_until
from tests.mcp.conftest import payload
from tests.mcp.process import IBKR_ACCOUNT, LISTENING, Served, broker_env, http_client, serving
from tests.reliability.test_crash_matrix import simulators

__all__ = ["simulators"]

pytestmark = pytest.mark.timeout(300)

_client_ids = itertools.count(760)
ACK_DELAY_MS = 3000
"""The gateway has the order; its answer comes this much later (well inside the 10 s broker timeout)."""
DRAINING = "SIGTERM: taking no new calls"


@pytest.fixture
def slow_placement(simulators: dict[str, Any]) -> Iterator[threading.Event]:
    """Set when the gateway receives an order, whose acknowledgement it then holds back."""
    gateway, received = simulators["gateway"], threading.Event()
    gateway.on_place_order = lambda _order: received.set()
    gateway.delay_acks_ms = ACK_DELAY_MS
    yield received
    gateway.delay_acks_ms = 0
    gateway.on_place_order = None


def server_env(database_url: str, simulators: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    return broker_env(database_url, simulators, tmp_path, next(_client_ids), BROKERS="ibkr",
                      EXECUTE_CONFIRMATION="never")


def terminate_mid_placement(served: Served, received: threading.Event) -> None:
    """SIGTERM once the gateway has the order, then wait until the server says it is draining."""
    assert received.wait(30), "the order never reached the gateway"
    served.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: DRAINING in served.log(), timeout=10, interval=0.05, what="the server to start draining")


def placed_row(session_factory: sessionmaker[Session], preview_id: str) -> TradeOrder:
    with session_factory() as session:
        [row] = session.execute(select(TradeOrder).where(TradeOrder.preview_id == uuid.UUID(preview_id))).scalars()
    return row


def test_sigterm_over_mcp_http_answers_the_placement_in_flight_then_exits_0(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
    slow_placement: threading.Event,
) -> None:
    env = server_env(database_url, simulators, tmp_path)
    with serving(["mcp", "--transport", "http"], env, tmp_path, LISTENING) as served:

        async def main() -> dict[str, Any]:
            answers: dict[str, Any] = {}
            async with http_client(served.url) as client:
                preview = payload(await client.call_tool(
                    "preview_trade", {"account_id": IBKR_ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": 1}))
                async with anyio.create_task_group() as group:

                    async def execute() -> None:
                        answers["execute"] = await client.call_tool("execute_trade",
                                                                    {"preview_id": preview["preview_id"]})

                    group.start_soon(execute)
                    await anyio.to_thread.run_sync(terminate_mid_placement, served, slow_placement)
                    answers["late"] = await client.call_tool("get_orders", {"state": "open"})
                    assert "execute" not in answers  # the late call was answered while the placement was in flight
            return answers

        answers = anyio.run(main)
        exit_code = served.proc.wait(timeout=60)
    late = answers["late"]
    assert late.is_error and late.structured_content["error_code"] == "SHUTTING_DOWN"
    assert late.structured_content["details"]["placed"] is False
    result = payload(answers["execute"])
    assert result["status"] in ("EXECUTED", "ACCEPTED") and result["brokerage_order_id"]
    row = placed_row(session_factory, result["preview_id"])
    assert row.status == result["status"] and row.brokerage_order_id == result["brokerage_order_id"]
    assert exit_code == 0, served.log()
    assert "INTERNAL_ERROR" not in served.log() and "Traceback" not in served.log()


def test_sigterm_over_the_api_answers_the_execution_in_flight_then_exits_0(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
    slow_placement: threading.Event,
) -> None:
    env = server_env(database_url, simulators, tmp_path)
    with serving(["api"], env, tmp_path, API_LISTENING) as served:
        wait_ready(served.url)
        answers: dict[str, httpx2.Response] = {}
        with httpx2.Client(base_url=served.url, timeout=60) as http:
            preview = http.post("/v1/previews", json={"account_id": IBKR_ACCOUNT, "ticker": "AAPL", "side": "BUY",
                                                      "quantity": "1"}).json()
            execute = threading.Thread(target=lambda: answers.update(
                execute=http.post("/v1/executions", json={"preview_id": preview["preview_id"]})))
            execute.start()
            terminate_mid_placement(served, slow_placement)
            with httpx2.Client(base_url=served.url, timeout=30) as late_client:
                answers["late"] = late_client.get("/v1/orders")
            assert "execute" not in answers
            execute.join(60)
        exit_code = served.proc.wait(timeout=60)
    late = answers["late"]
    assert late.status_code == 503 and late.json()["error_code"] == "SHUTTING_DOWN"
    executed = answers["execute"]
    assert executed.status_code == 200, executed.text
    order = executed.json()
    assert order["status"] in ("EXECUTED", "ACCEPTED") and order["brokerage_order_id"]
    row = placed_row(session_factory, preview["preview_id"])
    assert row.status == order["status"] and row.brokerage_order_id == order["brokerage_order_id"]
    assert exit_code == 0, served.log()
