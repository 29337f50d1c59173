"""MCP over HTTP: one JSON log line per tool call, its correlation id in trade_events, /metrics behind the token."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent
from tests.api.conftest import next_client_id
from tests.mcp.process import broker_env, http_client, http_server, running_simulators

pytestmark = pytest.mark.timeout(240)
TOKEN = "mcp-telemetry-" + uuid.uuid4().hex


async def two_previews(url: str, paper: str) -> str:
    async with http_client(url, TOKEN) as client:
        made = await client.call_tool("preview_trade", {"account_id": paper, "ticker": "SPY",
                                                        "side": "BUY", "quantity": 1})
        assert not made.is_error
        bad = await client.call_tool("preview_trade", {"account_id": paper, "ticker": "SPY",
                                                       "side": "HOLD", "quantity": 1, "api_key": TOKEN})
        assert bad.is_error
        return str(json.loads(made.content[0].text)["preview_id"])


def test_tool_calls_are_logged_correlated_and_counted(
    database_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with running_simulators() as simulators:
        paper = str(simulators["seeded"]["accounts"]["paper"])
        env = broker_env(database_url, simulators, tmp_path, next_client_id(), MCP_AUTH_TOKEN=TOKEN,
                         LOG_FORMAT="json")
        with http_server(env, tmp_path) as url:
            preview_id = anyio.run(two_previews, url, paper)
            metrics_url = url.replace("/mcp", "/metrics")
            assert httpx2.get(metrics_url).status_code == 401
            text = httpx2.get(metrics_url, headers={"Authorization": f"Bearer {TOKEN}"}).text
            log_path = sorted(tmp_path.glob("mcp-http-*.log"))[-1]
        log_text = log_path.read_text()
    assert 'tradeexec_call_duration_seconds_count{kind="mcp",name="preview_trade",outcome="ok"} 1.0' in text
    assert 'tradeexec_refusals_total{error_code="VALIDATION_ERROR",name="preview_trade"} 1.0' in text
    assert TOKEN not in log_text and env["SNAPTRADE_USER_SECRET"] not in log_text

    calls = [json.loads(line) for line in log_text.splitlines() if line.startswith("{") and '"event": "call"' in line]
    ok, refused = [c for c in calls if c["tool"] == "preview_trade"]
    assert ok["kind"] == "mcp" and ok["outcome"] == "ok" and ok["arguments"]["ticker"] == "SPY"
    assert refused["error_code"] == "VALIDATION_ERROR"
    assert refused["arguments"]["unexpected_arguments"].startswith("<list")  # unknown names: never their values
    with session_factory() as session:
        created = session.execute(
            select(TradeEvent.correlation_id).where(TradeEvent.preview_id == uuid.UUID(preview_id),
                                                    TradeEvent.event_type == "PREVIEW_CREATED")
        ).scalar_one()
    assert str(created) == ok["correlation_id"]
