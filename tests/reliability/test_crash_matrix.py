"""Crash matrix: a real `tradeexec mcp` process is SIGKILLed at each point of the execute path,
for both brokers; a fresh `tradeexec reconcile` settles what is left. Every case must end with
exactly one order at the broker for an intent that reached it, none for one that did not, and
the broker's true status in the database."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder
from tests.mcp.conftest import payload
from tests.mcp.process import IBKR_ACCOUNT, broker_env, run_cli, running_simulators, stdio_client
from tests.support.backdate import backdate_orders

pytestmark = pytest.mark.timeout(300)

POINTS = ["before_intent_commit", "after_intent_commit", "broker_received", "after_broker_call",
          "before_outcome_commit"]
REACHES_BROKER = {"broker_received", "after_broker_call", "before_outcome_commit"}
_client_ids = itertools.count(300)
_quantities = itertools.count(1)
"""SnapTrade orders carry no client ref; a distinct quantity per case keeps matching unambiguous
(the adapter refuses to guess between identical orders, and this module's rows are emptied per test)."""


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def mcp_server_pid() -> int:
    """The `tradeexec mcp` child the stdio client started (exactly one runs at a time here)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if cmdline[-3:] == ["-m", "cli", "mcp"]:
                return child.pid
        time.sleep(0.05)
    raise AssertionError("no tradeexec mcp child process found")


def kill_when_broker_receives(broker: str, simulators: dict[str, Any], pid: int) -> threading.Thread | None:
    """Arrange for the server to die the moment the broker has the order (before it answers)."""
    if broker == "ibkr":
        gateway = simulators["gateway"]

        def on_place(_order: object) -> None:
            gateway.on_place_order = None
            os.kill(pid, signal.SIGKILL)

        gateway.on_place_order = on_place
        return None
    sim = simulators["snaptrade"]
    before = sim.placed_order_count
    sim.inject_fault(method="POST", path_regex=r"^/trade/[0-9a-f-]{36}$", status=None, process=True,
                     hang_seconds=30)

    def watch() -> None:
        deadline = time.monotonic() + 60
        while sim.placed_order_count == before and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def broker_orders_for(broker: str, simulators: dict[str, Any], account: str) -> int:
    if broker == "ibkr":
        return sum(1 for o in simulators["gateway"].orders if o.status != "Inactive")
    return len(simulators["snaptrade"].orders(account))


def broker_truth(broker: str, simulators: dict[str, Any], account: str) -> str:
    if broker == "ibkr":
        [order] = [o for o in simulators["gateway"].orders if o.status != "Inactive"][-1:]
        return {"Filled": "EXECUTED", "Submitted": "ACCEPTED", "Cancelled": "CANCELED"}[order.status]
    [order] = simulators["snaptrade"].orders(account)[-1:]
    return str(order["status"])


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("broker", ["ibkr", "snaptrade"])
def test_sigkill_then_reconcile_ends_with_the_truth(
    broker: str, point: str, simulators: dict[str, Any], database_url: str,
    session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    account = IBKR_ACCOUNT if broker == "ibkr" else str(simulators["seeded"]["accounts"]["paper"])
    ticker = "AAPL" if broker == "ibkr" else "MSFT"
    kill_at = {} if point == "broker_received" else {"TRADEEXEC_FAULT_KILL_AT": point}
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="never",
                     **kill_at)
    orders_before = broker_orders_for(broker, simulators, account)
    quantity = next(_quantities)

    async def preview_then_execute() -> str:
        async with stdio_client(env) as client:
            preview = payload(await client.call_tool(
                "preview_trade", {"account_id": account, "ticker": ticker, "side": "BUY", "quantity": quantity}))
            if point == "broker_received":
                kill_when_broker_receives(broker, simulators, mcp_server_pid())
            with anyio.fail_after(60):
                try:
                    result = await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]})
                except Exception:
                    return str(preview["preview_id"])  # the server died mid-call, as intended
            raise AssertionError(f"the server survived {point}: {result.content}")

    try:
        preview_id = anyio.run(preview_then_execute)
    finally:
        simulators["gateway"].on_place_order = None
        simulators["snaptrade"].clear_faults()

    settle_env = {k: v for k, v in env.items() if k != "TRADEEXEC_FAULT_KILL_AT"}
    settle_env.update(IBKR_CLIENT_ID=str(next(_client_ids)))
    report = reconcile_in_subprocess(settle_env)
    if point == "after_intent_commit":  # nothing at the broker: FAILED only after the settle window
        assert report["still_unknown"] and report["failed"] == []
        backdate_orders(session_factory, report["still_unknown"])
        report = reconcile_in_subprocess(settle_env)
    assert report["errors"] == [] and report["still_unknown"] == []

    placed = broker_orders_for(broker, simulators, account) - orders_before
    with session_factory() as session:
        rows = list(session.execute(
            select(TradeOrder).where(TradeOrder.preview_id == uuid.UUID(preview_id))).scalars())
    if point == "before_intent_commit":
        assert placed == 0 and rows == []
    elif point == "after_intent_commit":
        assert placed == 0 and [r.status for r in rows] == ["FAILED"]
    else:
        assert point in REACHES_BROKER
        assert placed == 1, f"{placed} orders reached the broker"
        assert [r.status for r in rows] == [broker_truth(broker, simulators, account)]
        assert rows[0].brokerage_order_id


def reconcile_in_subprocess(env: dict[str, str]) -> dict[str, Any]:
    settled = run_cli("reconcile", "--json", env=env)
    report: dict[str, Any] = json.loads(settled.stdout)
    assert settled.returncode == (2 if report["still_unknown"] else 0), settled.stdout + settled.stderr
    return report


def test_a_crashed_placement_never_takes_the_identical_order_another_row_owns(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    """SnapTrade matches by attributes: the row killed mid-placement gets its own order, not its twin's."""
    account = str(simulators["seeded"]["accounts"]["paper"])
    quantity = f"{next(_quantities)}.37"  # fractional: no other case of this module has placed it
    order = {"account_id": account, "ticker": "MSFT", "side": "BUY", "quantity": quantity}

    async def execute(env: dict[str, str]) -> dict[str, Any] | None:
        async with stdio_client(env) as client:
            preview = payload(await client.call_tool("preview_trade", order))
            with anyio.fail_after(60):
                try:
                    return payload(await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]}))
                except Exception:
                    return None  # killed at the checkpoint, as intended

    plain = broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="never")
    owned = anyio.run(execute, plain)
    assert owned is not None and owned["status"] == "EXECUTED"
    doomed = {**plain, "IBKR_CLIENT_ID": str(next(_client_ids)), "TRADEEXEC_FAULT_KILL_AT": "after_broker_call"}
    assert anyio.run(execute, doomed) is None
    with session_factory() as session:
        [crashed] = session.execute(select(TradeOrder).where(TradeOrder.status == "SUBMITTING")).scalars()
    report = reconcile_in_subprocess({**plain, "IBKR_CLIENT_ID": str(next(_client_ids))})
    assert report["settled"] == {str(crashed.id): "EXECUTED"} and report["errors"] == []
    with session_factory() as session:
        rows = {str(r.id): r.brokerage_order_id for r in session.execute(select(TradeOrder)).scalars()}
    twins = {o["brokerage_order_id"] for o in simulators["snaptrade"].orders(account)
             if Decimal(str(o["total_quantity"])) == Decimal(quantity)}
    assert len(twins) == 2 and set(rows.values()) == twins  # each row owns its own broker order
    assert rows[owned["order_id"]] == owned["brokerage_order_id"]
