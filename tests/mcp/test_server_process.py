"""`tradeexec mcp` as a subprocess, over stdio and streamable HTTP, against both simulators and PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from brokers.errors import ErrorCode
from db.models import TradePreview
from services.order_store import utcnow
from tests.mcp.conftest import payload, row_counts, tool_error
from tests.mcp.process import (
    IBKR_ACCOUNT,
    REPO,
    base_env,
    broker_env,
    http_client,
    http_server,
    run_cli,
    running_simulators,
    stdio_client,
)
from tests.mcp.test_tools import BAD_ARGUMENTS, TOOLS

pytestmark = pytest.mark.timeout(240)

TOKEN = "test-token-" + uuid.uuid4().hex
_client_ids = itertools.count(100)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


@pytest.fixture
def env(database_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session],
        tmp_path: Path) -> dict[str, str]:
    """The server's environment; depending on session_factory empties the tables after each test."""
    return broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="auto")


@pytest.fixture(scope="module")
def token_server(database_url: str, simulators: dict[str, Any],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `tradeexec mcp --transport http` with MCP_AUTH_TOKEN for the module (starting one costs seconds)."""
    tmp_path = tmp_path_factory.mktemp("mcp-http")
    env = broker_env(database_url, simulators, tmp_path, next(_client_ids), EXECUTE_CONFIRMATION="auto")
    with http_server({**env, "MCP_AUTH_TOKEN": TOKEN}, tmp_path) as url:
        yield url


@pytest.fixture
def token_url(token_server: str, session_factory: sessionmaker[Session]) -> str:
    """The module's token server; session_factory empties the tables after each test."""
    return token_server


def snaptrade_paper(simulators: dict[str, Any]) -> str:
    return str(simulators["seeded"]["accounts"]["paper"])


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    return await client.call_tool(tool, arguments)


async def wait_final(client: Client, order_id: str, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = payload(await call(client, "get_order_status", order_id=order_id))
        if status["status"] in {"EXECUTED", "CANCELED", "REJECTED", "FAILED"} or time.monotonic() > deadline:
            return status
        await anyio.sleep(0.2)


async def full_flow(client: Client, account_id: str, session_factory: sessionmaker[Session]) -> None:
    """Every tool, preview then execute, duplicate execute, expired preview, cancel, a refused order."""
    assert {t.name for t in (await client.list_tools()).tools} == TOOLS
    accounts = payload(await call(client, "list_tradeable_accounts"))
    assert account_id in {a["account_id"] for a in accounts["accounts"]}
    assert payload(await call(client, "search_symbol", account_id=account_id, ticker="AAPL"))["count"] >= 1
    assert payload(await call(client, "get_quote", account_id=account_id, ticker="AAPL"))["reference_price"]
    assert payload(await call(client, "get_account_balance", account_id=account_id))["account_id"] == account_id
    assert "positions" in payload(await call(client, "get_positions", account_id=account_id))

    shown = payload(await call(client, "preview_trade", account_id=account_id, ticker="AAPL", side="BUY", quantity=2))
    order = payload(await call(client, "execute_trade", preview_id=shown["preview_id"]))
    assert order["placed"] is True and order["simulated"] is False
    again = tool_error(await call(client, "execute_trade", preview_id=shown["preview_id"]))
    assert again["error_code"] == ErrorCode.ALREADY_EXECUTED
    assert (await wait_final(client, order["order_id"]))["status"] == "EXECUTED"

    stale = payload(await call(client, "preview_trade", account_id=account_id, ticker="AAPL", side="BUY", quantity=1))
    with session_factory.begin() as session:
        session.execute(update(TradePreview).where(TradePreview.id == uuid.UUID(stale["preview_id"]))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = payload(await call(client, "execute_trade", preview_id=stale["preview_id"]))
    assert expired["error_code"] == ErrorCode.PREVIEW_EXPIRED and expired["placed"] is False
    assert expired["new_preview"]["preview_id"] not in (None, stale["preview_id"])

    resting = payload(await call(client, "preview_trade", account_id=account_id, ticker="AAPL", side="BUY",
                                 quantity=1, order_type="Limit", limit_price=50, time_in_force="GTC"))
    working = payload(await call(client, "execute_trade", preview_id=resting["preview_id"]))
    assert working["status"] in {"PENDING", "ACCEPTED"}
    listed = payload(await call(client, "get_orders", account_id=account_id, state="open"))
    assert working["order_id"] in {o["order_id"] for o in listed["orders"]}
    await call(client, "cancel_order", order_id=working["order_id"])
    assert (await wait_final(client, working["order_id"]))["status"] == "CANCELED"

    refused = tool_error(await call(client, "preview_trade", account_id=account_id, ticker="AAPL", side="BUY",
                                    quantity=100))
    assert refused["error_code"] == ErrorCode.RISK_LIMIT

    before = row_counts(session_factory)
    for tool, arguments, _field in BAD_ARGUMENTS:
        error = tool_error(await client.call_tool(tool, arguments))
        assert error["error_code"] == ErrorCode.VALIDATION_ERROR, (tool, arguments, error)
    assert row_counts(session_factory) == before


def test_stdio_every_tool_on_ibkr(env: dict[str, str], session_factory: sessionmaker[Session]) -> None:
    async def main() -> None:
        async with stdio_client(env) as client:
            await full_flow(client, IBKR_ACCOUNT, session_factory)

    anyio.run(main)


def test_http_with_token_every_tool_on_snaptrade(
    token_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    async def main(url: str) -> None:
        async with http_client(url, TOKEN) as client:
            await full_flow(client, snaptrade_paper(simulators), session_factory)

    anyio.run(main, token_url)


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def test_http_refuses_requests_without_the_token(token_url: str) -> None:
    async def connect(url: str, token: str | None) -> None:
        async with http_client(url, token) as client:
            await client.list_tools()

    url = token_url
    for token in (None, "wrong-token-0123456789"):
        response = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                               headers={"Authorization": f"Bearer {token}"} if token else {})
        assert response.status_code == 401
        body = response.json()
        assert body["error_code"] == ErrorCode.UNAUTHORIZED and TOKEN not in response.text
        with pytest.raises(BaseException) as refused:  # the SDK surfaces the 401 as its own error
            anyio.run(connect, url, token)
        assert any(isinstance(e, MCPError) for e in leaves(refused.value))
    assert httpx2.get(url.replace("/mcp", "/healthz")).json() == {"status": "ok"}
    anyio.run(connect, url, TOKEN)


def test_http_on_loopback_without_a_token_is_allowed(env: dict[str, str], tmp_path: Path) -> None:
    async def main(url: str) -> dict[str, Any]:
        async with http_client(url) as client:
            return payload(await call(client, "list_tradeable_accounts"))

    with http_server(env, tmp_path) as url:
        assert IBKR_ACCOUNT in {a["account_id"] for a in anyio.run(main, url)["accounts"]}


def test_http_on_a_public_address_without_a_token_refuses_to_start(env: dict[str, str]) -> None:
    result = run_cli("mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0", env=env, timeout=60)
    assert result.returncode == 2
    assert "MCP_AUTH_TOKEN" in result.stderr and "Traceback" not in result.stderr


class SilentServer:
    """A TCP port that accepts connections and never answers: a database that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.listener.accept()[0])

    def abandoned(self) -> int:
        """Connections the client has already given up on (closed from its side)."""
        closed = 0
        for conn in list(self.accepted):
            conn.setblocking(False)
            try:
                closed += conn.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                pass
        return closed

    def close(self) -> None:
        for conn in [self.listener, *self.accepted]:
            conn.close()


def test_tools_list_answers_while_the_database_is_down(tmp_path: Path) -> None:
    """The service starts lazily: listing tools never waits for PostgreSQL or the broker SDKs.

    The database accepts and never answers, so anything that waited on it would still be waiting
    (or would have given up on the connection) when the tool list arrives.
    """
    database = SilentServer()
    env = base_env(DATABASE_URL=f"postgresql://nobody:hunter2secret@127.0.0.1:{database.port}/none",
                   HOME=str(tmp_path), BROKERS="ibkr", IBKR_GATEWAY_PORT="9")

    async def main() -> Any:
        async with stdio_client(env) as client:
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == TOOLS
            assert database.abandoned() == 0  # no database wait was given up on before the list answered
            return await call(client, "list_tradeable_accounts")

    try:
        result = anyio.run(main)
    finally:
        database.close()
    error = tool_error(result)
    assert error["error_code"] == ErrorCode.DATABASE_UNAVAILABLE
    assert "hunter2secret" not in json.dumps(error)


def test_importing_the_server_does_not_import_the_broker_sdks() -> None:
    code = "import json, sys, mcp_tools.server; print(json.dumps([m in sys.modules for m in SDKS]))"
    result = subprocess.run([sys.executable, "-c", f"SDKS = ('ib_async', 'snaptrade_client'); {code}"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == [False, False]


class Human:
    def __init__(self, action: str) -> None:
        self.action = action
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> Any:
        from mcp_types import ElicitResult

        self.asked.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": True})
        return ElicitResult(action="decline")


@pytest.mark.parametrize(("transport", "mode", "action"), [
    ("stdio", "legacy", "decline"), ("stdio", "auto", "accept"),
    ("http", "legacy", "accept"), ("http", "auto", "decline"),
])
def test_confirmation_prompt_over_real_transports(
    env: dict[str, str], request: pytest.FixtureRequest, transport: str, mode: str, action: str
) -> None:
    human = Human(action)

    async def flow(client: Client) -> tuple[str, Any]:
        shown = payload(await call(client, "preview_trade", account_id=IBKR_ACCOUNT, ticker="MSFT", side="BUY",
                                   quantity=1))
        return client.protocol_version, await call(client, "execute_trade", preview_id=shown["preview_id"])

    async def over_stdio() -> tuple[str, Any]:
        async with stdio_client(env, elicitation_callback=human, mode=mode) as client:
            return await flow(client)

    async def over_http(url: str) -> tuple[str, Any]:
        async with http_client(url, TOKEN, elicitation_callback=human, mode=mode) as client:
            return await flow(client)

    if transport == "stdio":
        version, result = anyio.run(over_stdio)
    else:
        version, result = anyio.run(over_http, request.getfixturevalue("token_url"))
    assert (version == "2026-07-28") == (mode == "auto")
    assert len(human.asked) == 1 and "BUY 1 MSFT" in human.asked[0]
    if action == "accept":
        placed = payload(result)
        assert placed["placed"] is True and placed["status"] in {"PENDING", "ACCEPTED", "EXECUTED"}
    else:
        error = tool_error(result)
        assert error["error_code"] == ErrorCode.CONFIRMATION_DECLINED and error["details"]["placed"] is False
