"""Correlation ids, structured JSON logs, redaction and Prometheus metrics of a real `tradeexec api` process."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent
from tests.api.conftest import TOKEN, client, error_of, paper_account
from tests.api.process import ApiProcess

pytestmark = pytest.mark.timeout(300)
TRADE_PATH = r"^/trade/[0-9a-f]{8}-[0-9a-f]{4}-"


def call_lines(server: ApiProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)  # every log line of the process is one JSON object
            if record.get("event") == "call":
                lines.append(record)
    return lines


def test_correlation_id_reaches_logs_and_trade_events(
    server: ApiProcess, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    paper = paper_account(simulators)
    mine = str(uuid.uuid4())
    with client(server) as http:
        preview = http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "BUY",
                                                  "quantity": 1}).json()
        executed = http.post("/v1/executions", json={"preview_id": preview["preview_id"]},
                             headers={"X-Correlation-ID": mine})
        assert executed.status_code == 200 and executed.headers["x-correlation-id"] == mine
        again = http.post("/v1/executions", json={"preview_id": preview["preview_id"]})
        error_of(again, 409, "ALREADY_EXECUTED")
        ignored = http.get("/v1/accounts", headers={"X-Correlation-ID": "not a uuid"})
        assert uuid.UUID(ignored.headers["x-correlation-id"])
    with session_factory() as session:
        events = session.execute(
            select(TradeEvent.event_type, TradeEvent.correlation_id)
            .where(TradeEvent.preview_id == uuid.UUID(preview["preview_id"]))
        ).all()
    by_type = {kind: str(cid) for kind, cid in events}
    assert by_type["ORDER_SUBMITTED"] == mine
    created = by_type["PREVIEW_CREATED"]
    assert created != mine

    lines = call_lines(server)
    execute = [line for line in lines if line["tool"] == "execute"]
    assert execute[0]["correlation_id"] == mine and execute[0]["outcome"] == "ok" and execute[0]["status"] == 200
    assert execute[0]["arguments"]["preview_id"] == preview["preview_id"]
    assert isinstance(execute[0]["duration_ms"], float)
    assert execute[1]["outcome"] == "error" and execute[1]["error_code"] == "ALREADY_EXECUTED"
    previews = [line for line in lines if line["tool"] == "preview"]
    assert previews[0]["correlation_id"] == created
    expected = {"method": "POST", "account_id": paper, "ticker": "SPY", "side": "BUY", "quantity": "1",
                "order_type": "Market", "time_in_force": "Day"}
    assert previews[0]["arguments"].items() >= expected.items()


def test_secrets_never_in_logs_errors_or_metrics(
    server: ApiProcess, simulators: dict[str, Any], env: dict[str, str]
) -> None:
    paper = paper_account(simulators)
    secrets = {TOKEN, env["SNAPTRADE_CONSUMER_KEY"], env["SNAPTRADE_USER_SECRET"]}
    simulators["snaptrade"].inject_fault(
        method="POST", path_regex=TRADE_PATH, status=500,
        body={"detail": f"echoing userSecret={env['SNAPTRADE_USER_SECRET']} and {env['SNAPTRADE_CONSUMER_KEY']}"},
    )
    answers = []
    with client(server) as http:
        preview = http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "BUY",
                                                  "quantity": 1}).json()
        answers.append(http.post("/v1/executions", json={"preview_id": preview["preview_id"]}).text)
        answers.append(http.get("/v1/orders").text)
        answers.append(http.get("/metrics").text)
        answers.append(http.get("/v1/accounts", params={"token": TOKEN}).text)
    answers.append(httpx2.get(f"{server.url}/v1/accounts", headers={"Authorization": f"Bearer x{TOKEN}"}).text)
    everything = "\n".join([*answers, server.log()])
    for secret in secrets:
        assert secret not in everything


def test_metrics_endpoint(server: ApiProcess, simulators: dict[str, Any]) -> None:
    paper = paper_account(simulators)
    with client(server) as http:
        preview = http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "BUY",
                                                  "quantity": 1}).json()
        assert http.post("/v1/executions", json={"preview_id": preview["preview_id"]}).status_code == 200
        error_of(http.post("/v1/executions", json={"preview_id": preview["preview_id"]}), 409, "ALREADY_EXECUTED")
        text = http.get("/metrics").text
    error_of(httpx2.get(f"{server.url}/metrics"), 401, "UNAUTHORIZED")
    assert 'tradeexec_call_duration_seconds_count{kind="http",name="execute",outcome="ok"} 1.0' in text
    assert 'tradeexec_refusals_total{error_code="ALREADY_EXECUTED",name="execute"} 1.0' in text
    assert 'tradeexec_order_outcomes_total{broker="snaptrade",status=' in text
    assert 'tradeexec_broker_call_duration_seconds_count{broker="snaptrade",operation="place_order",outcome="ok"}' \
        in text
    assert 'tradeexec_broker_connected{broker="snaptrade"} 1.0' in text
    assert 'tradeexec_reconciliation_backlog{status="UNKNOWN"} 0.0' in text
    assert 'tradeexec_ibkr_pacing_stalls_total{kind="ib_async_queue"}' in text
