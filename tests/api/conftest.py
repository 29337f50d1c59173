"""API fixtures: both simulators in this process, `tradeexec api` as a subprocess on the test database."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.api.process import ApiProcess, api_server, wait_ready
from tests.mcp.process import broker_env, running_simulators

TOKEN = "api-test-token-" + uuid.uuid4().hex
_client_ids = itertools.count(300)


def next_client_id() -> int:
    return next(_client_ids)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as running:
        yield running


@pytest.fixture
def env(database_url: str, simulators: dict[str, Any], session_factory: sessionmaker[Session],
        tmp_path: Path) -> dict[str, str]:
    """The server's environment; depending on session_factory empties the tables after each test."""
    return broker_env(database_url, simulators, tmp_path, next_client_id())


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[ApiProcess]:
    """A fresh process per test (for tests that count its metrics or read its log from the start)."""
    with api_server({**env, "API_AUTH_TOKEN": TOKEN, "LOG_FORMAT": "json"}, tmp_path) as running:
        wait_ready(running.url)
        yield running


@pytest.fixture(scope="module")
def module_server(database_url: str, simulators: dict[str, Any],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """One process for a module's tests that need no fresh process state (each test still starts on empty
    tables: use it through a function fixture that depends on session_factory)."""
    tmp_path = tmp_path_factory.mktemp("api")
    env = broker_env(database_url, simulators, tmp_path, next_client_id())
    with api_server({**env, "API_AUTH_TOKEN": TOKEN, "LOG_FORMAT": "json"}, tmp_path) as running:
        wait_ready(running.url)
        yield running


def paper_account(simulators: dict[str, Any]) -> str:
    return str(simulators["seeded"]["accounts"]["paper"])


def client(server: ApiProcess, token: str | None = TOKEN) -> httpx2.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.Client(base_url=server.url, headers=headers, timeout=60)


def error_of(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message", "details"}, body
    assert body["error_code"] == code, body
    assert "Traceback" not in response.text
    return body
