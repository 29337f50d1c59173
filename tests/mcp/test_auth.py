"""HTTP transport guard: loopback detection and the start-up refusal without a token."""

from __future__ import annotations

import pytest

from mcp_tools.auth import AuthConfigurationError, is_loopback, require_token_for


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "tradeexec", ""])
def test_everything_else_may_be_reachable(host: str) -> None:
    assert not is_loopback(host)


def test_a_public_bind_needs_a_token() -> None:
    with pytest.raises(AuthConfigurationError, match="MCP_AUTH_TOKEN"):
        require_token_for("0.0.0.0", None)
    with pytest.raises(AuthConfigurationError, match="MCP_AUTH_TOKEN"):
        require_token_for("0.0.0.0", "")
    require_token_for("0.0.0.0", "x" * 32)
    require_token_for("127.0.0.1", None)


def test_a_short_token_is_refused_anywhere() -> None:
    with pytest.raises(AuthConfigurationError, match="too short"):
        require_token_for("127.0.0.1", "secret")
