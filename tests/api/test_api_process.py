"""`tradeexec api` as a subprocess, spoken to over real HTTP, against both simulators and PostgreSQL."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TradeEvent, TradeOrder
from tests.api.conftest import TOKEN, client, error_of, next_client_id
from tests.api.process import ApiProcess, api_server, wait_ready
from tests.mcp.process import IBKR_ACCOUNT, base_env, broker_env, run_cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server(module_server: ApiProcess, session_factory: sessionmaker[Session]) -> ApiProcess:
    """The module's one API process (starting one costs seconds); session_factory empties the tables after
    each test. Tests that need their own configuration start their own."""
    return module_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_reads_preview_execute_once_status_and_cancel(
    server: ApiProcess, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    paper = str(simulators["seeded"]["accounts"]["paper"])
    with client(server) as http:
        overview = http.get("/v1/accounts").json()
        assert {a["account_id"] for a in overview["accounts"]} >= {paper, IBKR_ACCOUNT}
        assert overview["count"] == len(overview["accounts"]) and overview["orders_enabled"] is True
        assert overview["broker_errors"] == []  # both brokers answered
        quote = http.get(f"/v1/accounts/{paper}/quote", params={"ticker": "SPY"})
        assert quote.status_code == 200 and quote.json()["ticker"] == "SPY"
        assert http.get(f"/v1/accounts/{paper}/balance").json()["account_id"] == paper
        positions = http.get(f"/v1/accounts/{paper}/positions").json()
        assert any(p["ticker"] == "SPY" for p in positions)
        assert http.get(f"/v1/accounts/{paper}/symbols", params={"ticker": "SPY"}).json()[0]["ticker"] == "SPY"

        created = http.post("/v1/previews", json={"account_id": paper, "ticker": "spy", "side": "buy",
                                                  "quantity": "2", "order_type": "Limit", "limit_price": 10})
        assert created.status_code == 201, created.text
        preview = created.json()
        assert preview["ticker"] == "SPY" and preview["quantity"] == "2" and preview["limit_price"] == "10"

        executed = http.post("/v1/executions", json={"preview_id": preview["preview_id"]})
        assert executed.status_code == 200, executed.text
        order = executed.json()
        assert order["preview_id"] == preview["preview_id"] and order["brokerage_order_id"]

        again = http.post("/v1/executions", json={"preview_id": preview["preview_id"]})
        error_of(again, 409, "ALREADY_EXECUTED")

        status = http.get(f"/v1/orders/{order['order_id']}").json()
        assert status["order_id"] == order["order_id"]
        listed = http.get("/v1/orders", params={"account_id": paper}).json()
        assert [o["order_id"] for o in listed if o.get("order_id") == order["order_id"]] == [order["order_id"]]

        canceled = http.post(f"/v1/orders/{order['order_id']}/cancel")
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] in {"CANCELED", "CANCEL_PENDING"}
    with session_factory() as session:
        placed = session.execute(select(func.count()).select_from(TradeOrder)).scalar_one()
    assert placed == 1


def test_error_model_and_statuses(server: ApiProcess, simulators: dict[str, Any],
                                  session_factory: sessionmaker[Session]) -> None:
    paper = str(simulators["seeded"]["accounts"]["paper"])
    with client(server) as http:
        bad = error_of(http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "HOLD",
                                                       "quantity": "-1", "order_type": "Limit"}),
                       400, "VALIDATION_ERROR")
        fields = {p["field"] for p in bad["details"]["problems"]}
        assert {"side", "quantity"} <= fields  # every problem at once

        raw_terms = http.post("/v1/executions", json={"preview_id": str(uuid.uuid4()), "quantity": 100})
        assert "quantity" in {p["field"] for p in error_of(raw_terms, 400, "VALIDATION_ERROR")["details"]["problems"]}
        error_of(http.post("/v1/executions", json={"preview_id": "not-a-uuid"}), 400, "VALIDATION_ERROR")
        error_of(http.post("/v1/executions", json={"preview_id": str(uuid.uuid4())}), 404, "PREVIEW_NOT_FOUND")
        error_of(http.get(f"/v1/orders/{uuid.uuid4()}"), 404, "ORDER_NOT_FOUND")
        error_of(http.get("/v1/orders/12"), 400, "VALIDATION_ERROR")
        error_of(http.get("/v1/accounts/NOPE123/balance"), 404, "ACCOUNT_NOT_FOUND")
        error_of(http.get("/v1/nothing-here"), 404, "NOT_FOUND")
        error_of(http.get("/v1/executions"), 405, "METHOD_NOT_ALLOWED")
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(TradeOrder)).scalar_one() == 0
        refusals = session.execute(
            select(func.count()).select_from(TradeEvent).where(TradeEvent.event_type == "PREVIEW_REFUSED")
        ).scalar_one()
    assert refusals == 0  # refused at the edge: the bad preview never reached the service


def test_bearer_token_required_and_health_open(server: ApiProcess) -> None:
    with client(server, token=None) as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        error_of(anonymous.get("/v1/accounts"), 401, "UNAUTHORIZED")
        error_of(anonymous.post("/v1/executions", json={"preview_id": str(uuid.uuid4())}), 401, "UNAUTHORIZED")
    with client(server, token="wrong-" + TOKEN) as wrong:
        error_of(wrong.get("/v1/accounts"), 401, "UNAUTHORIZED")
    lower = httpx2.get(f"{server.url}/v1/accounts", headers={"Authorization": f"bearer {TOKEN}"}, timeout=60)
    assert lower.status_code == 200
    assert TOKEN not in server.log()


def test_openapi_uses_the_service_models(server: ApiProcess) -> None:
    spec = httpx2.get(f"{server.url}/openapi.json", timeout=30).json()
    schemas = spec["components"]["schemas"]
    assert {"PreviewView", "OrderView", "PreviewRequest", "ApiError", "BrokerAccount"} <= set(schemas)
    execute = spec["paths"]["/v1/executions"]["post"]
    body = execute["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[body]["properties"]) == {"preview_id"}
    assert schemas[body]["additionalProperties"] is False
    assert execute["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiError")


def test_refuses_to_start_off_loopback_without_a_token(env: dict[str, str]) -> None:
    result = run_cli("api", "--host", "0.0.0.0", "--port", "0", env=env, timeout=60)
    assert result.returncode == 2
    assert "API_AUTH_TOKEN" in result.stderr
    short = run_cli("api", "--host", "0.0.0.0", "--port", "0", env={**env, "API_AUTH_TOKEN": "short"}, timeout=60)
    assert short.returncode == 2 and "too short" in short.stderr


def test_loopback_without_token_checks_the_host(env: dict[str, str], tmp_path: Path,
                                                simulators: dict[str, Any]) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    paper = str(simulators["seeded"]["accounts"]["paper"])
    with api_server({**env, "TRADING_KILL_SWITCH": "true"}, tmp_path) as running:
        wait_ready(running.url)
        rebound = httpx2.get(f"{running.url}/v1/accounts", headers={"Host": "evil.example"}, timeout=30)
        error_of(rebound, 403, "UNAUTHORIZED")
        cross = httpx2.post(f"{running.url}/v1/previews", headers={"Origin": "https://evil.example"}, timeout=30,
                            json={"account_id": paper, "ticker": "SPY", "side": "BUY", "quantity": 1})
        error_of(cross, 403, "UNAUTHORIZED")
        with httpx2.Client(base_url=running.url, timeout=60) as http:
            assert http.get("/v1/accounts").json()["trading_blocked"]
            preview = http.post("/v1/previews", json={"account_id": paper, "ticker": "SPY", "side": "BUY",
                                                      "quantity": 1})
            assert preview.status_code == 201, preview.text
            refused = http.post("/v1/executions", json={"preview_id": preview.json()["preview_id"]})
            error_of(refused, 423, "TRADING_DISABLED")


def test_loopback_alias_without_token_checks_the_host(env: dict[str, str], tmp_path: Path) -> None:
    with api_server(env, tmp_path, "--host", "127.0.0.2") as running:
        assert running.url.startswith("http://127.0.0.2:")
        error_of(httpx2.get(f"{running.url}/v1/accounts", headers={"Host": "rebound.example"}, timeout=30),
                 403, "UNAUTHORIZED")
        assert httpx2.get(f"{running.url}/health", timeout=30).json()["status"] == "ok"


def test_database_down_is_503_and_broker_down_is_502(
    tmp_path: Path, simulators: dict[str, Any], database_url: str, session_factory: sessionmaker[Session]
) -> None:
    dead_db = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    env = base_env(DATABASE_URL=dead_db, TRADEEXEC_DATA_DIR=str(tmp_path / "d"), HOME=str(tmp_path), BROKERS="")
    with api_server(env, tmp_path) as running, httpx2.Client(base_url=running.url, timeout=60) as http:
        error_of(http.get("/v1/accounts"), 503, "DATABASE_UNAVAILABLE")
        assert "postgres@" not in http.get("/v1/accounts").text

    dead_broker = {**broker_env(database_url, simulators, tmp_path, next_client_id()),
                   "BROKERS": "snaptrade", "SNAPTRADE_BASE_URL": f"http://127.0.0.1:{free_port()}",
                   "SNAPTRADE_TIMEOUT_SECONDS": "2"}
    paper = str(simulators["seeded"]["accounts"]["paper"])
    with api_server(dead_broker, tmp_path) as running, httpx2.Client(base_url=running.url, timeout=60) as http:
        error_of(http.get(f"/v1/accounts/{paper}/balance"), 502, "BROKER_UNAVAILABLE")


def test_market_data_reads(server: ApiProcess, simulators: dict[str, Any]) -> None:
    with client(server) as http:
        quotes = http.get(f"/v1/accounts/{IBKR_ACCOUNT}/quotes", params={"tickers": "AAPL,MSFT"})
        assert quotes.status_code == 200, quotes.text
        assert "AAPL" in quotes.text and "MSFT" in quotes.text
        bars = http.get(f"/v1/accounts/{IBKR_ACCOUNT}/bars",
                        params={"ticker": "AAPL", "bar_size": "1 day", "duration": "5 D"})
        assert bars.status_code == 200, bars.text
        summary = http.get(f"/v1/accounts/{IBKR_ACCOUNT}/summary")
        assert summary.status_code == 200, summary.text
        error_of(http.get(f"/v1/accounts/{IBKR_ACCOUNT}/bars", params={"ticker": "AAPL", "bar_size": "7 weeks"}),
                 400, "VALIDATION_ERROR")
        paper = str(simulators["seeded"]["accounts"]["paper"])
        unsupported = http.get(f"/v1/accounts/{paper}/options/SPY")
        assert unsupported.status_code in (200, 501), unsupported.text
