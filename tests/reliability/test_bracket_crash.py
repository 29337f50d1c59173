"""A bracket's placement cut in the middle: a real `tradeexec mcp` process is SIGKILLed after the entry was
sent and before its children were, then a fresh `tradeexec reconcile` settles the set (issue 16).

The decision under test (services/set_reconcile.py): the entry, found at the broker without its protective
orders, is cancelled there; the children that never reached it are FAILED; the entry is flagged
HALF_PLACED_SET with the evidence. A crash after the whole set was sent settles all three legs as placed.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent, TradeOrder
from tests.mcp.conftest import payload
from tests.mcp.process import IBKR_ACCOUNT, broker_env, running_simulators, stdio_client
from tests.reliability.test_crash_matrix import reconcile_in_subprocess
from tests.support.backdate import backdate_orders

pytestmark = pytest.mark.timeout(300)
_client_ids = itertools.count(640)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


def _set_rows(session_factory: sessionmaker[Session], preview_id: str) -> dict[str, TradeOrder]:
    with session_factory() as session:
        entry = session.execute(select(TradeOrder).where(TradeOrder.preview_id == uuid.UUID(preview_id))).scalar_one()
        children = session.execute(select(TradeOrder).where(TradeOrder.parent_order_id == entry.id)).scalars()
        return {str(r.leg_role): r for r in [entry, *children]}


def _crash_during_execute(env: dict[str, str]) -> str:
    async def run() -> str:
        async with stdio_client(env) as client:
            preview = payload(await client.call_tool("preview_trade", {
                "account_id": IBKR_ACCOUNT, "ticker": "AAPL", "side": "BUY", "quantity": "3", "order_type": "Limit",
                "limit_price": "189.5", "take_profit_price": "199", "stop_loss_price": "180"}))
            with anyio.fail_after(60):
                try:
                    result = await client.call_tool("execute_trade", {"preview_id": preview["preview_id"]})
                except Exception:
                    return str(preview["preview_id"])  # the server died mid-call, as intended
            raise AssertionError(f"the server survived: {result.content}")

    return anyio.run(run)


def test_sigkill_between_the_entry_and_its_children_cancels_the_entry_and_flags_it(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    client_id = str(next(_client_ids))  # the restarted process uses the same IBKR_CLIENT_ID, as a deployment does
    env = broker_env(database_url, simulators, tmp_path, int(client_id), EXECUTE_CONFIRMATION="never",
                     TRADEEXEC_FAULT_KILL_AT="after_entry_sent")
    preview_id = _crash_during_execute(env)
    rows = _set_rows(session_factory, preview_id)
    assert [r.status for r in rows.values()] == ["SUBMITTING"] * 3  # the whole intent was committed first
    ref = rows["entry"].client_order_ref or ""
    at_gateway = [o for o in simulators["gateway"].orders if o.order_ref.startswith(ref)]
    assert [(o.order_ref, o.status) for o in at_gateway] == [(ref, "PendingSubmit")]  # held, never transmitted

    settle_env = {k: v for k, v in env.items() if k != "TRADEEXEC_FAULT_KILL_AT"}
    first = reconcile_in_subprocess(settle_env)  # still inside the placement window: nothing is decided
    assert sorted(first["still_unknown"]) == sorted(str(rows[r].id) for r in ("take_profit", "stop_loss"))
    backdate_orders(session_factory, [r.id for r in rows.values()])
    report = reconcile_in_subprocess(settle_env)
    assert report["errors"] == [] and report["still_unknown"] == []
    assert report["flagged"] == {str(rows["entry"].id): "HALF_PLACED_SET"}

    rows = _set_rows(session_factory, preview_id)
    assert (rows["entry"].status, rows["entry"].attention) == ("CANCELED", "HALF_PLACED_SET")
    assert [rows[r].status for r in ("take_profit", "stop_loss")] == ["FAILED", "FAILED"]
    at_gateway = [o for o in simulators["gateway"].orders if o.order_ref.startswith(ref)]
    assert [(o.order_ref, o.status) for o in at_gateway] == [(ref, "Cancelled")]  # cancelled, never traded
    with session_factory() as session:
        [evidence] = session.execute(select(TradeEvent).where(TradeEvent.event_type == "ORDER_SET_HALF_PLACED",
                                                              TradeEvent.order_id == rows["entry"].id)).scalars()
    assert evidence.payload["decision"] == "cancelled at the broker"
    assert sorted(evidence.payload["missing_legs"]) == sorted(str(rows[r].id) for r in ("take_profit", "stop_loss"))


def test_sigkill_after_the_whole_set_was_sent_settles_every_leg(
    simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:
    client_id = next(_client_ids)
    env = broker_env(database_url, simulators, tmp_path, client_id, EXECUTE_CONFIRMATION="never",
                     TRADEEXEC_FAULT_KILL_AT="after_broker_call")
    preview_id = _crash_during_execute(env)
    report = reconcile_in_subprocess({k: v for k, v in env.items() if k != "TRADEEXEC_FAULT_KILL_AT"})
    assert report["errors"] == [] and report["still_unknown"] == [] and report["flagged"] == {}
    rows = _set_rows(session_factory, preview_id)
    assert [rows[r].status for r in ("entry", "take_profit", "stop_loss")] == ["ACCEPTED", "PENDING", "PENDING"]
    assert all(r.brokerage_order_id and r.attention is None for r in rows.values())
