"""Scale-out: three `tradeexec api` processes on one database; executes of the same previews sent to all
three at once place each preview exactly once (the database, not a process, decides)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeOrder
from tests.api.conftest import TOKEN, paper_account
from tests.api.process import api_server, wait_ready

pytestmark = pytest.mark.timeout(400)
PROCESSES = 3
PREVIEWS = 6


def test_three_processes_place_each_preview_once(
    env: dict[str, str], tmp_path: Path, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    paper = paper_account(simulators)
    placed_before = simulators["snaptrade"].placed_order_count
    settings = {**env, "BROKERS": "snaptrade", "API_AUTH_TOKEN": TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ExitStack() as stack:
        urls = []
        for number in range(PROCESSES):
            running = stack.enter_context(api_server(settings, tmp_path / f"p{number}"))
            urls.append(running.url)
        for url in urls:
            wait_ready(url)
        previews = [
            httpx2.post(f"{urls[0]}/v1/previews", headers=headers, timeout=60, json={
                "account_id": paper, "ticker": "SPY", "side": "BUY", "quantity": "1", "order_type": "Limit",
                "limit_price": "1"}).json()["preview_id"]
            for _ in range(PREVIEWS)
        ]
        start = threading.Barrier(PROCESSES * PREVIEWS)

        def execute(target: tuple[str, str]) -> tuple[str, int, str]:
            url, preview_id = target
            start.wait(timeout=60)
            answer = httpx2.post(f"{url}/v1/executions", headers=headers, timeout=120, json={"preview_id": preview_id})
            return preview_id, answer.status_code, answer.json().get("error_code") or ""

        targets = [(url, preview_id) for preview_id in previews for url in urls]
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            results = list(pool.map(execute, targets))

    per_preview = {p: Counter((status, code) for pid, status, code in results if pid == p) for p in previews}
    for outcome in per_preview.values():
        assert outcome == Counter({(200, ""): 1, (409, "ALREADY_EXECUTED"): PROCESSES - 1}), outcome
    with session_factory() as session:
        rows = session.execute(select(TradeOrder.preview_id, func.count()).group_by(TradeOrder.preview_id)).all()
    assert sorted(str(p) for p, n in rows if n == 1) == sorted(previews) and len(rows) == PREVIEWS
    assert simulators["snaptrade"].placed_order_count - placed_before == PREVIEWS


def test_stateless_mcp_needs_a_confirmation_that_is_not_elicitation(env: dict[str, str], tmp_path: Path) -> None:
    from tests.mcp.process import http_server, run_cli

    refused = run_cli("mcp", "--transport", "http", "--port", "0",
                      env={**env, "MCP_STATELESS_HTTP": "true", "EXECUTE_CONFIRMATION": "auto"}, timeout=60)
    assert refused.returncode == 2 and "MCP_STATELESS_HTTP" in refused.stderr
    stateless = {**env, "MCP_STATELESS_HTTP": "true", "EXECUTE_CONFIRMATION": "browser"}
    with http_server(stateless, tmp_path) as url:
        # No initialize, no session id: any process behind a plain load balancer can answer.
        for _ in range(2):
            answer = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=60,
                                 headers={"Accept": "application/json, text/event-stream"})
            assert answer.status_code == 200, answer.text
            assert "execute_trade" in answer.text
            assert "mcp-session-id" not in answer.headers
