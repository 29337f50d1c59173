"""Issue 10.2 over real HTTP against `tradeexec mcp --transport http`: Host/Origin checks on every loopback
alias without a token, a case-insensitive bearer scheme, and a cap on concurrent MCP sessions."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from brokers.errors import ErrorCode
from mcp_tools.http_guard import LoopbackOnly, split_host
from tests.mcp.process import base_env, http_server

pytestmark = pytest.mark.timeout(240)

ALIASES = ["127.0.0.2", "LOCALHOST", "[::1]", "0:0:0:0:0:0:0:1"]
TOKEN = "guard-token-" + uuid.uuid4().hex
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "guard-test", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def server_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """No database and no broker are needed to answer `initialize`: the service starts lazily."""
    return base_env(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none", HOME=str(tmp_path), **overrides)


def initialize(url: str, **headers: str) -> httpx2.Response:
    return httpx2.post(url, json=INITIALIZE, headers={**ACCEPT, **headers}, timeout=30)


@pytest.mark.parametrize("alias", ALIASES)
def test_without_a_token_only_requests_addressed_to_the_loopback_bind_get_through(
    tmp_path: Path, alias: str
) -> None:
    with http_server(server_env(tmp_path), tmp_path, "--host", alias) as url:
        port = urlsplit(url).port
        assert initialize(url).status_code == 200
        assert initialize(url, Origin=f"http://localhost:{port}").status_code == 200
        assert initialize(url, Host=f"localhost:{port}").status_code == 200
        for refused in (
            {"Host": f"evil.example:{port}"},
            {"Host": "evil.example"},
            {"Host": f"127.0.0.1.evil.example:{port}"},
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Host": f"localhost:{port + 1 if port != 65535 else 1}"},
        ):
            response = initialize(url, **refused)
            assert response.status_code == 403, (alias, refused)
            assert response.json()["error_code"] == ErrorCode.UNAUTHORIZED


def test_the_bearer_scheme_is_case_insensitive_and_the_token_exact(tmp_path: Path) -> None:
    with http_server(server_env(tmp_path, MCP_AUTH_TOKEN=TOKEN), tmp_path) as url:
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert initialize(url, Authorization=f"{scheme} {TOKEN}").status_code == 200, scheme
        for wrong in (f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", TOKEN):
            response = initialize(url, Authorization=wrong)
            assert response.status_code == 401 and TOKEN not in response.text, wrong


def test_concurrent_sessions_are_capped(tmp_path: Path) -> None:
    with http_server(server_env(tmp_path, MCP_MAX_SESSIONS="2"), tmp_path) as url:
        opened = [initialize(url) for _ in range(2)]
        assert [r.status_code for r in opened] == [200, 200]
        assert initialize(url).status_code == 503
        session = opened[0].headers["mcp-session-id"]
        closed = httpx2.delete(url, headers={"mcp-session-id": session, "MCP-Protocol-Version": "2025-06-18"})
        assert closed.status_code in (200, 204)
        assert initialize(url).status_code == 200


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:80", ("::1", 80)), ("LOCALHOST", ("localhost", None)),
    ("::1", None), ("[::1", None), ("host:port", None), ("", None),
])
def test_host_header_parsing(value: str, expected: Any) -> None:
    assert split_host(value) == expected


def test_the_guard_refuses_to_protect_a_public_bind() -> None:
    with pytest.raises(ValueError, match="not loopback"):
        LoopbackOnly(lambda *_: None, "0.0.0.0", 80)  # type: ignore[arg-type]
